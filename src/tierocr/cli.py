"""tierocr's command line: `tierocr parse`, `tierocr eval` and the commands of later stages."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tierocr",
    help="Tiered document OCR: PDF text layer, classical OCR on the CPU, a vision-language model only where "
    "needed.",
    no_args_is_help=True,
    add_completion=False,
    # A crash must not print local variables: they can hold API keys and passwords.
    pretty_exceptions_show_locals=False,
)

from tierocr.parse_command import parse_command  # noqa: E402

app.command("parse")(parse_command)


@app.command("engines")
def engines_command() -> None:
    """List the classical OCR engines this installation knows."""
    from tierocr.engines import available_engines

    for name in available_engines():
        typer.echo(name)


# --- stage commands --- (each stage registers its own command or sub-app here, one line each)
from tierocr.gpu.cli import gpu_app  # noqa: E402

app.add_typer(gpu_app, name="gpu")

from tierocr.vlm_server.cli import vlm_serve  # noqa: E402

app.command("vlm-serve")(vlm_serve)

from tierocr.model_servers.cli import launch_app, stop_command  # noqa: E402

app.add_typer(launch_app, name="launch")
app.command("stop")(stop_command)

from tierocr.evaluation.cli import eval_command  # noqa: E402

app.command("eval")(eval_command)

from tierocr.benchmark.cli import bench_command, compare_command  # noqa: E402

app.command("bench")(bench_command)
app.command("compare")(compare_command)

from tierocr.server.cli import serve  # noqa: E402

app.command("serve")(serve)

from tierocr.deploy.cli import deploy_app  # noqa: E402

app.add_typer(deploy_app, name="deploy")

from tierocr.index.cli import index_command, search_command  # noqa: E402

app.command("index")(index_command)
app.command("search")(search_command)

from tierocr.batch.cli import batch_app  # noqa: E402

app.add_typer(batch_app, name="batch")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
