"""Child process of the SIGTERM test: vlm-serve, served as the CLI serves it, over a model that hangs.

The model's `generate_batch` announces itself on stdout and then blocks for good, ignoring cancellation,
as a prefill stuck on a huge prompt would. The listening socket arrives as file descriptor ``argv[1]``.
"""

from __future__ import annotations

import sys
import threading

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.app import create_app
from tierocr.vlm_server.cli import serve_app
from tierocr.vlm_server.jobs import GenRequest, GenResult


class HungModel:
    device = "cpu"
    model_type = "hung"

    def generate_batch(self, requests: list[GenRequest]) -> list[GenResult]:
        print("generating", flush=True)
        threading.Event().wait()  # never set: only the process's exit ends this
        return []

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        return None


def main(fd: int) -> None:
    settings = VlmServerSettings(model="hung", device="cpu", shutdown_timeout_s=1.0, idle_unload_s=0)
    app = create_app(settings, loader=lambda _s: HungModel())
    serve_app(app, settings, fd=fd, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
