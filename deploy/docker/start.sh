#!/usr/bin/env bash
# Entry point of the pod and serverless images: vLLM on loopback, tierocr in front of it, one Python.
#   START_MODE=pod         `tierocr serve` on 0.0.0.0:8007 (RunPod exposes it as <pod-id>-8007.proxy...)
#   START_MODE=serverless  RunPod's serverless runtime calling tierocr.serverless.handler
# VLLM_MODEL and VLLM_ARGS come from `tierocr deploy plan --target pod|serverless` (the GPU preset).
set -euo pipefail

: "${START_MODE:=pod}"
: "${VLLM_MODEL:=/models/GLM-OCR}"
: "${VLLM_ARGS:=--host 127.0.0.1 --port 8000 --served-model-name zai-org/GLM-OCR}"
: "${VLLM_READY_TIMEOUT_S:=600}"

# shellcheck disable=SC2086  # VLLM_ARGS is a list of flags on purpose
vllm serve "$VLLM_MODEL" $VLLM_ARGS &
vllm_pid=$!
trap 'kill -TERM "$vllm_pid" ${front_pid:-} 2>/dev/null || true' TERM INT

# vLLM has no readiness signal but its /health; wait for it (bounded) so the first job finds the model.
python3 - "$VLLM_READY_TIMEOUT_S" "$vllm_pid" <<'PY'
import os, sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
pid = int(sys.argv[2])
port = os.environ.get("VLLM_PORT", "8000")
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("vLLM exited before it became ready; see its log above")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
        sys.exit(0)
    except OSError:
        time.sleep(2)
sys.exit(f"vLLM not ready after {sys.argv[1]} s")
PY

case "$START_MODE" in
  pod) tierocr serve --host 0.0.0.0 --port 8007 & ;;
  serverless) python3 -m tierocr.deploy.worker & ;;
  *) echo "START_MODE must be pod or serverless, not $START_MODE" >&2; exit 2 ;;
esac
front_pid=$!
# Whichever ends first ends the container, so the platform restarts a half-dead pod.
set +e
wait -n "$vllm_pid" "$front_pid"
status=$?
kill -TERM "$vllm_pid" "$front_pid" 2>/dev/null
wait
exit "$status"
