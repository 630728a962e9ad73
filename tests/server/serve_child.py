"""Child process of the API stress test: the real app with the real pipeline, on a socket the parent bound.

Separate from the test process because a PDFium crash kills the process it happens in; the parent sees
the exit status instead of dying with it. The listening socket arrives as file descriptor ``argv[1]``,
so clients can connect at once (the backlog holds them) and nobody polls for readiness.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from tierocr.config import load_settings
from tierocr.server.app import create_app


def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    app = create_app(load_settings())
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(int(sys.argv[1]))
