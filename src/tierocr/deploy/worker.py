"""The serverless worker's entry point: RunPod's runtime calling ``tierocr.serverless.handler`` per job.

Lives here rather than in ``tierocr.serverless`` so the handler itself stays free of the RunPod SDK (any
runtime that calls ``handler(event)`` can use it); only the image's start script runs this module.
"""

from __future__ import annotations


def main() -> None:
    try:
        import runpod
    except ImportError as exc:
        raise SystemExit(
            f"the serverless worker needs the RunPod SDK: pip install 'tierocr[cloud]' ({exc})"
        ) from exc
    from tierocr.serverless import handler

    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
