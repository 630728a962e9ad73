# vLLM serving GLM-OCR, with the pins that make it work and gates that fail the build when they drift.
# Every pin below must equal `pins` in src/tierocr/deploy/gpu_presets.yaml (a test checks it).
#
#   docker build -f deploy/docker/vllm-glm-ocr.Dockerfile --target vllm       -t tierocr/vllm-glm-ocr .
#   docker build -f deploy/docker/vllm-glm-ocr.Dockerfile --target pod        -t tierocr/vllm-glm-ocr-pod .
#   docker build -f deploy/docker/vllm-glm-ocr.Dockerfile --target serverless -t tierocr/vllm-glm-ocr-serverless .
#
# vllm:        vLLM alone (compose service `vllm`; model folder mounted at /models, args from the plan).
# pod:         vLLM + `tierocr serve` in one container and one Python (deploy/docker/start.sh); weights
#              baked in at build time, so a rented pod downloads nothing when it starts.
# serverless:  the same, running tierocr.serverless.handler under RunPod's serverless runtime (the
#              `runpod` package, installed in this stage only: it is the platform's runtime, not a
#              dependency of tierocr, and it pulls paramiko, LGPL-2.1).
#
# The base image is pinned by digest. Its digest was copied from a public deployment record of vLLM
# 0.27.1 and could not be pulled where this file was written: the first gate checks that the image
# really is vLLM 0.27.1, so a wrong digest fails here rather than serving another version.
ARG VLLM_IMAGE=vllm/vllm-openai@sha256:0a51ea5b4ae2dc5d81890e5173f54203d2a3ae0cfffe51b8fd2afd4391bfd967

# hadolint ignore=DL3006
FROM ${VLLM_IMAGE} AS vllm
ARG VLLM_VERSION=0.27.1
ARG TRANSFORMERS_VERSION=5.24.0
# a version number, not a secret (hadolint reads TOKEN in the name)
# hadolint ignore=DL3064
ARG TOKENIZERS_VERSION=0.23.3
ARG HF_HUB_VERSION=2.4.0
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1
# vLLM's metadata still asks for transformers < 5; GLM-OCR's `glm_ocr` type needs >= 5.1. Install the pins
# over it without dependency resolution, then prove the result with the gates.
RUN python3 -m pip install --no-deps \
        "transformers==${TRANSFORMERS_VERSION}" \
        "tokenizers==${TOKENIZERS_VERSION}" \
        "huggingface_hub==${HF_HUB_VERSION}" \
    && printf 'transformers==%s\ntokenizers==%s\nhuggingface_hub==%s\n' \
        "${TRANSFORMERS_VERSION}" "${TOKENIZERS_VERSION}" "${HF_HUB_VERSION}" > /opt/pins.txt
COPY deploy/docker/vllm_gates.py /opt/vllm_gates.py
RUN python3 /opt/vllm_gates.py --vllm "${VLLM_VERSION}" --transformers "${TRANSFORMERS_VERSION}" \
        --tokenizers "${TOKENIZERS_VERSION}" --huggingface-hub "${HF_HUB_VERSION}"
EXPOSE 8000
# Arguments (model folder, flags) come from the plan: `tierocr deploy plan --gpu A40 --target compose`.
ENTRYPOINT ["vllm", "serve"]

FROM vllm AS pod
ARG VLLM_VERSION=0.27.1
ARG TRANSFORMERS_VERSION=5.24.0
# a version number, not a secret (hadolint reads TOKEN in the name)
# hadolint ignore=DL3064
ARG TOKENIZERS_VERSION=0.23.3
ARG HF_HUB_VERSION=2.4.0
ARG MODEL_ID=zai-org/GLM-OCR
# Pin the model too: set MODEL_REVISION to a commit of the model repository.
ARG MODEL_REVISION=main
WORKDIR /opt/tierocr
COPY pyproject.toml README.md ./
COPY src ./src
# The handler lives in vLLM's Python: the constraints keep tierocr's install from moving a pin, and the
# gates run again to prove it did not.
# hadolint ignore=DL3013
RUN python3 -m pip install --constraint /opt/pins.txt ".[server]" \
    && python3 /opt/vllm_gates.py --vllm "${VLLM_VERSION}" --transformers "${TRANSFORMERS_VERSION}" \
        --tokenizers "${TOKENIZERS_VERSION}" --huggingface-hub "${HF_HUB_VERSION}"
# Weights are fetched once, here, at build time; at run time HF_HUB_OFFLINE=1 forbids any download.
RUN HF_HUB_OFFLINE=0 python3 -c "import sys; from huggingface_hub import snapshot_download; \
snapshot_download(sys.argv[1], revision=sys.argv[2], local_dir='/models/GLM-OCR')" "${MODEL_ID}" "${MODEL_REVISION}"
COPY deploy/docker/start.sh /opt/tierocr/start.sh
ENV START_MODE=pod \
    VLLM_MODEL=/models/GLM-OCR \
    TIEROCR_SERVER_HOST=0.0.0.0 \
    TIEROCR_DATA_DIR=/var/lib/tierocr
EXPOSE 8007
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/tierocr/start.sh"]

FROM pod AS serverless
ARG VLLM_VERSION=0.27.1
ARG TRANSFORMERS_VERSION=5.24.0
# a version number, not a secret (hadolint reads TOKEN in the name)
# hadolint ignore=DL3064
ARG TOKENIZERS_VERSION=0.23.3
ARG HF_HUB_VERSION=2.4.0
ARG RUNPOD_VERSION=1.12.0
RUN python3 -m pip install --constraint /opt/pins.txt "runpod==${RUNPOD_VERSION}" \
    && python3 /opt/vllm_gates.py --vllm "${VLLM_VERSION}" --transformers "${TRANSFORMERS_VERSION}" \
        --tokenizers "${TOKENIZERS_VERSION}" --huggingface-hub "${HF_HUB_VERSION}"
ENV START_MODE=serverless
