"""`bench demo`: a local web page to color your own drawing with trained runs, backbones side by side."""

from __future__ import annotations

import importlib.util
import signal
import time
from pathlib import Path

import typer

from bench.core.errors import UserError
from bench.rundir import BENCHMARK


def demo_command(
    runs: list[Path] = typer.Argument(None, help="Run directories.", show_default="one per backbone of --out"),
    out: Path = typer.Option(BENCHMARK, "--out", help="The `bench run` folder used without RUN."),
    run_seed: int = typer.Option(
        None, "--run-seed", help="Which seed<S>/ run per backbone.", show_default="the lowest seed"
    ),
    checkpoint: str = typer.Option("last", "--checkpoint", help="Checkpoint mark of every run (usd-...), or last."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 serves other machines too."),
    port: int = typer.Option(7860, "--port", help="Port of the page."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest upload accepted, in MB."),
    max_upload_pixels: int = typer.Option(4096 * 4096, "--max-upload-pixels", help="Most pixels an upload may have."),
) -> None:
    """Serve a page to paint color strokes on a line drawing and see every run color it (Ctrl+C stops)."""
    from bench.demo.lineart import UploadLimits
    from bench.demo.runs import choose_runs
    from bench.demo.serve import load_runs, start, temp_files

    if importlib.util.find_spec("gradio") is None:  # imported later, once its temporary folder is set
        raise UserError("bench demo needs gradio; install it with: pip install -e '.[demo]'")
    if max_upload_mb <= 0 or max_upload_pixels <= 0:
        raise UserError("--max-upload-mb and --max-upload-pixels must be more than 0")
    loaded = load_runs(choose_runs(list(runs or []), out, run_seed), checkpoint)
    limits = UploadLimits(max_bytes=int(max_upload_mb * 2**20), max_pixels=max_upload_pixels)
    with temp_files():
        try:
            server = start(loaded, host, port, limits)
        except OSError:
            raise UserError(
                f"cannot serve on {host}:{port}: the port is taken or the address is not this machine's; "
                "pick another --port or --host"
            ) from None
        for run in loaded:
            typer.echo(f"loaded {run.run.path} ({run.checkpoint.name}) on {next(run.backbone.parameters()).device}")
        typer.echo(f"serving {server.url} (Ctrl+C stops)")
        previous = signal.signal(signal.SIGTERM, _stop)  # a `kill` cleans up like Ctrl+C
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            server.close()


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
