"""PDFium is not thread-safe: concurrent PDF parsing must go through one lock, or the process dies.

Before the lock, four threads parsing PDFs crashed the process within about three seconds (6 runs of 6,
SIGSEGV / SIGABRT). The stress runs in a child process so that a crash fails the test instead of killing
pytest.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
CHILD = Path(__file__).with_name("pdfium_stress_child.py")

#: The only modules that may talk to PDFium: the lock itself and the PDF readers that go through it.
PDFIUM_MODULES = {"inputs/pdfium_lock.py", "inputs/pdf.py", "inputs/textlayer.py"}


def test_threads_parsing_pdfs_at_once_never_crash(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env["PYTHONPATH"] = str(SRC)
    result = subprocess.run(
        [sys.executable, str(CHILD), "4", "60", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    assert result.stdout.startswith("ok "), result.stdout
    # 4 threads x 60 documents of 2 pages, a third of them rendered as well: 640 page reads.
    assert int(result.stdout.split()[1]) == 640


def test_only_the_locked_readers_import_pypdfium2() -> None:
    """A new module calling PDFium directly would bypass the lock; it must go through pdfium_lock."""
    offenders = []
    root = SRC / "tierocr"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "pypdfium2" for name in names):
                rel = path.relative_to(root).as_posix()
                if rel not in PDFIUM_MODULES:
                    offenders.append(rel)
    assert offenders == []
