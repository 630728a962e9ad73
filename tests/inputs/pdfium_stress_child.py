"""Child process of the PDFium stress test: threads that parse PDFs at once, in a loop.

Run in a subprocess because unsafe PDFium use does not raise, it kills the process (SIGSEGV, SIGABRT):
the parent sees the exit status. Prints one line, ``ok <pages>``, when every thread finished cleanly.
Usage: ``python pdfium_stress_child.py THREADS ITERATIONS WORKDIR``.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from tierocr.config import InputSettings
from tierocr.inputs import open_document
from tierocr.samples.synthetic import PARAGRAPHS, sample_pdf, text_pdf


def main(threads: int, iterations: int, workdir: Path) -> int:
    settings = InputSettings(dpi=72)
    text_doc = text_pdf([list(PARAGRAPHS), list(PARAGRAPHS[:2])], title="Stress")
    # Page 2 of the sample is a scanned image: the text layer's image-coverage check renders it too.
    scanned = workdir / "sample.pdf"
    scanned.write_bytes(sample_pdf())
    expected: dict[str, list[str]] = {}
    errors: list[str] = []
    pages = [0] * threads
    lock = threading.Lock()

    def parse(source: Path | bytes, name: str, render: bool) -> list[str]:
        texts = []
        with open_document(source, settings, name=name) as doc:
            for page in doc.iter_pages():
                layer = page.text_layer
                texts.append(layer.text if layer is not None else "")
                if render:
                    texts.append(str(page.image.size))
        return texts

    def work(n: int) -> None:
        try:
            for i in range(iterations):
                source: Path | bytes = scanned if (i + n) % 2 else text_doc
                name = "scanned" if (i + n) % 2 else "text"
                texts = parse(source, name, render=i % 3 == 0)
                key = f"{name}-{i % 3 == 0}"
                with lock:
                    if expected.setdefault(key, texts) != texts:
                        errors.append(f"thread {n} iteration {i}: {name} read differently")
                pages[n] += len(texts)
        except Exception as exc:  # reported by the parent as a failure, not swallowed
            errors.append(f"thread {n}: {type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        print("\n".join(errors[:5]))
        return 1
    print(f"ok {sum(pages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
