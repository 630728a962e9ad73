"""The serverless worker's entry point: RunPod's runtime calling ``tierocr.serverless.handler`` per job.

Lives here rather than in ``tierocr.serverless`` so the handler itself stays free of the RunPod SDK (any
runtime that calls ``handler(event)`` can use it); only the serverless image's start script runs this
module. The SDK (``runpod``) is the platform's runtime, installed by that image at the version pinned in
the presets file, not a dependency of tierocr: it pulls paramiko (LGPL-2.1), so nothing else in tierocr
imports it, and it is imported here lazily.
"""

from __future__ import annotations


def main() -> None:
    try:
        import runpod
    except ImportError as exc:
        raise SystemExit(
            "the serverless worker runs under RunPod's serverless runtime, which the serverless image "
            f"installs (deploy/docker/vllm-glm-ocr.Dockerfile, target serverless); it is missing here ({exc})"
        ) from exc
    from tierocr.serverless import handler

    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
