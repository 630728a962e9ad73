"""`tierocr parse -o DIR` when writing fails: the file and the reason on one line, the other inputs still
parsed and written, exit 1 at the end, and never a truncated or half-written file left behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr import parse_command
from tierocr.cli import app
from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

runner = CliRunner()


def _inputs(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = folder / f"{name}.pdf"
        path.write_bytes(text_pdf([[PARAGRAPHS[i % len(PARAGRAPHS)]]]))
        paths.append(path)
    return paths


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_full_disk_fails_one_input_and_the_others_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = _inputs(tmp_path / "in", "first", "second", "third")
    out = tmp_path / "out"
    out.mkdir()
    (out / "second.md").write_text("the previous run's output")
    real_fsync = os.fsync

    def disk_full_for_second(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(".second."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(parse_command.os, "fsync", disk_full_for_second)
    result = runner.invoke(
        app, ["parse", str(first), str(second), str(third), "-o", str(out), "-q", "--no-layout"]
    )
    assert result.exit_code == 1, result.output
    errors = _errors(result.stderr)
    assert len(errors) == 1, result.stderr
    assert str(second) in errors[0] and str(out / "second.md") in errors[0]
    assert "No space left on device" in errors[0]
    assert "Traceback" not in result.output
    assert "cheapest path" in (out / "first.md").read_text()
    assert (out / "third.md").read_text()  # the input after the failure was still parsed and written
    assert (out / "second.md").read_text() == "the previous run's output"  # not truncated
    assert sorted(p.name for p in out.iterdir()) == ["first.md", "second.md", "third.md"]  # no temp files


def _unwritable_dir(tmp_path: Path) -> Path:
    """A real directory this process cannot create files in, also when it runs as root."""
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    folder = Path("/sys/kernel")  # sysfs refuses new files even to root
    try:
        (folder / "tierocr-probe").touch()
    except OSError:
        return folder
    pytest.skip("no directory here refuses writes to root")


def test_an_unwritable_output_dir_fails_each_input_with_one_line(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "in", "alpha", "beta")
    out = _unwritable_dir(tmp_path)
    result = runner.invoke(app, ["parse", *map(str, inputs), "-o", str(out), "-q", "--no-layout"])
    assert result.exit_code == 1, result.output
    errors = _errors(result.stderr)
    assert len(errors) == 2, result.stderr
    for path, error in zip(inputs, errors, strict=True):
        assert str(path) in error and str(out / f"{path.stem}.md") in error and "cannot write" in error
    assert "Traceback" not in result.output


def test_an_output_that_is_a_file_is_an_option_error(tmp_path: Path) -> None:
    (doc,) = _inputs(tmp_path / "in", "doc")
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    result = runner.invoke(app, ["parse", str(doc), "-o", str(target)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: -o/--output: {target} exists and is not a directory"
    ]
    assert target.read_text() == "keep me"
