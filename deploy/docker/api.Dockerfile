# The HTTP API (`tierocr serve`), also the image of the batch workers. Build from the repository root:
#   docker build -f deploy/docker/api.Dockerfile -t tierocr/api .
# Run: docker run --rm -p 127.0.0.1:8007:8007 -v tierocr-data:/var/lib/tierocr tierocr/api
#
# Classical OCR runs on the CPU (RapidOCR's models ship in its wheel), so this image has no torch and no
# CUDA; the OCR-VL tier is reached over HTTP (TIEROCR_VLM_URL). Settings: TIEROCR_* (docs/api.md).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    TIEROCR_SERVER_HOST=0.0.0.0 \
    TIEROCR_SERVER_PORT=8007 \
    TIEROCR_DATA_DIR=/var/lib/tierocr

# rapidocr's OpenCV needs libGL and GLib at import time. Unpinned on purpose: they follow the base
# image's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tierocr \
    && install -d -o tierocr -g tierocr /var/lib/tierocr
WORKDIR /opt/tierocr
COPY pyproject.toml README.md ./
COPY src ./src
# The package is this checkout; its dependency floors live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[server,scale]"

USER 10001
VOLUME ["/var/lib/tierocr"]
EXPOSE 8007
# /health answers 503 only when the classical tier cannot run (docs/api.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ['TIEROCR_SERVER_PORT'], timeout=4)"]
# SIGTERM: running jobs stop at their next page and go back to the queue.
STOPSIGNAL SIGTERM
CMD ["tierocr", "serve"]
