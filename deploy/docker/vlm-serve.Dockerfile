# `tierocr vlm-serve` in a container, two variants from one file. Build from the repository root:
#   docker build -f deploy/docker/vlm-serve.Dockerfile --target cpu  -t tierocr/vlm-serve:cpu .
#   docker build -f deploy/docker/vlm-serve.Dockerfile --target cuda -t tierocr/vlm-serve:cuda .
# Run (CPU):
#   docker run --rm --network host -v /srv/models:/models:ro \
#     -e TIEROCR_VLM_SERVER_MODEL=/models/GLM-OCR tierocr/vlm-serve:cpu
# Run (NVIDIA, with the container toolkit): `--gpus device=0 ... tierocr/vlm-serve:cuda`. The cuda variant
# takes torch from the CUDA 12.6 index (pins.torch_cuda_index in tierocr/deploy/gpu_presets.yaml), whose
# builds still carry kernels for compute capability 6.0 (Tesla P100); vLLM does not run there.
#
# Every setting comes from TIEROCR_VLM_SERVER_* environment variables (docs/vlm-server.md). The server
# listens on 127.0.0.1 unless TIEROCR_VLM_SERVER_HOST says otherwise (compose sets 0.0.0.0 on its private
# network; never publish the port beyond the host).
FROM python:3.11-slim AS base

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TIEROCR_VLM_SERVER_PORT=8001

# rapidocr's OpenCV needs libGL and GLib at import time. Unpinned on purpose: they follow the base
# image's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tierocr
WORKDIR /opt/tierocr
COPY pyproject.toml README.md ./
COPY src ./src

FROM base AS cpu
# torch first from the CPU index, so the `vlm` extra does not pull the default (CUDA) build; torchvision
# (faster image preprocessing) from the same index, since it must match torch's build.
# hadolint ignore=DL3013
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" "torchvision==0.28.0" \
    && pip install ".[vlm,gpu,scale]"
USER 10001
# Models are mounted, never downloaded: a hub id must already be in HF_HOME's cache.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ['TIEROCR_VLM_SERVER_PORT'], timeout=4)"]
# docker stop sends SIGTERM: uvicorn shuts down gracefully and the model is unloaded.
STOPSIGNAL SIGTERM
CMD ["tierocr", "vlm-serve"]

FROM base AS cuda
ENV TIEROCR_VLM_SERVER_DEVICE=cuda
# hadolint ignore=DL3013
RUN pip install --index-url https://download.pytorch.org/whl/cu126 "torch==2.13.0" "torchvision==0.28.0" \
    && pip install ".[vlm,gpu,scale]"
USER 10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ['TIEROCR_VLM_SERVER_PORT'], timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["tierocr", "vlm-serve"]
