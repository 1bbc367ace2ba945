"""The `bench` command line: one typer app whose commands live in `bench/commands/`, one module each.

Every command turns a `bench.core.errors.UserError` into one line on stderr and exit status 2; other exceptions
are bugs and keep their traceback.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer
from rich.markup import escape

from bench.commands import (
    benchmark_eval,
    benchmark_hints,
    benchmark_jobs,
    benchmark_loop,
    benchmark_urls,
    codec,
    demo,
    hints,
    plan,
    report,
    run,
    sample,
    train,
)
from bench.commands import eval as eval_cmd
from bench.core.errors import UserError

app = typer.Typer(
    help=(
        "strokebench: which diffusion backbone colors line drawings from a user's color strokes best per "
        "dollar of GPU time? Train backbones on the same dollar budget, evaluate them, and compare."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
codec_app = typer.Typer(help="Tiny latent codecs the tiny presets ship (trained by the project itself).")
benchmark_app = typer.Typer(help="Timing benchmarks: each prints a figure and a ratio against a reference.")
app.add_typer(codec_app, name="codec")
app.add_typer(benchmark_app, name="benchmark", rich_help_panel="Timing benchmarks (for developers)")


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a `UserError` becomes one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _plain_help_with_defaults(fn: Callable[..., Any]) -> None:
    """Make the options' help plain text and show every default, including those typer leaves blank.

    Help is escaped because rich reads brackets as markup and drops them (a written ``[default: ...]``
    vanished); a default of None, an off flag or an empty list or string prints as "none" or "off".
    """
    for parameter in inspect.signature(fn).parameters.values():
        info = parameter.default
        if not isinstance(info, typer.models.ParameterInfo):
            continue
        names_default = "[default:" in (info.help or "")
        info.help = escape(info.help) if info.help else info.help
        if info.show_default is not True or names_default:
            continue
        if info.default is None or info.default == [] or info.default == "":
            info.show_default = "none"
        elif info.default is False:
            info.show_default = "off"


def _description(fn: Callable[..., Any], summary: str) -> str:
    """The docstring of ``fn`` as plain text, each paragraph on one line (the terminal wraps it)."""
    paragraphs = (inspect.getdoc(fn) or summary).split("\n\n")
    return escape("\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs))


def _register(target: typer.Typer, name: str, fn: Callable[..., Any], summary: str) -> None:
    """Add command ``name``: ``summary`` is its line in the command list, its docstring its ``--help``."""
    _plain_help_with_defaults(fn)
    target.command(name, short_help=summary, help=_description(fn, summary))(_user_errors(fn))


_register(app, "hints", hints.hints_command, "Draw the 5-channel hint of an image and save a picture of it.")
_register(app, "train", train.train_command, "Train a backbone on a dollar budget of A10 time.")
_register(app, "sample", sample.sample_command, "Color your own line drawing + strokes with a trained run.")
_register(app, "plan", plan.plan_command, "Parameters, FLOPs, cost and memory of a backbone, no download.")
_register(app, "eval", eval_cmd.eval_command, "Score every checkpoint of runs on the fixed eval sets.")
_register(app, "report", report.report_command, "Write the comparison report (tables, plots, grids).")
_register(app, "run", run.run_command, "The whole benchmark: train each backbone, evaluate, report.")
_register(app, "demo", demo.demo_command, "A local web page to color your own drawing with trained runs.")
_register(codec_app, "fit", codec.codec_fit_command, "Train a tiny latent codec on built-in data.")
_register(
    benchmark_app,
    "hints",
    benchmark_hints.benchmark_hints_command,
    "Time the hint generator: reference vs fast path, ms per image and their ratio.",
)
_register(
    benchmark_app,
    "eval",
    benchmark_eval.benchmark_eval_command,
    "Time the colour and edge metrics on 512 px images, and the speed-up over scikit-image.",
)
_register(
    benchmark_app,
    "loop",
    benchmark_loop.benchmark_loop_command,
    "Time `bench train` against a bare loop on the same batches, and the data-wait fraction.",
)
_register(
    benchmark_app,
    "jobs",
    benchmark_jobs.benchmark_jobs_command,
    "Time independent tiny runs trained one after another against side by side on worker processes.",
)
_register(
    benchmark_app,
    "urls",
    benchmark_urls.benchmark_urls_command,
    "Images/s from URLs with 200 ms latency (local server) against the same images from a folder.",
)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
