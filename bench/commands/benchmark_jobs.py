"""`bench benchmark jobs`: independent tiny runs trained one after another against side by side.

`bench run` trains its FLOP-metered runs on worker processes with the cores split between them
(`bench.run_pool`); this measures that choice on this machine: the same runs, sequentially (each step on the
threads `bench train` picks) and in parallel (one process per core, one thread each), interleaved.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import typer


def _train_one(cfg: object, path: Path) -> int:
    from bench.train import start_run, train_run

    return train_run(cfg, start_run(cfg, path), resume=False, quiet=True).steps


def benchmark_jobs_command(
    backbones: str = typer.Option("sd,cascade,if", "--backbones", help="Comma-separated tiny backbones to train."),
    seeds: int = typer.Option(2, "--seeds", help="Seeds per backbone (runs = backbones x seeds)."),
    budget_usd: float = typer.Option(5e-6, "--budget-usd", help="Dollars of A10 time per run (FLOP-metered)."),
    repeats: int = typer.Option(2, "--repeats", help="Sequential/parallel pairs, interleaved."),
    jobs: int = typer.Option(0, "--jobs", help="Parallel workers (0: one per core)."),
) -> None:
    """Print the wall time of training the same runs sequentially and on parallel workers, and the speed-up
    (sequential / parallel) measured in this run; the steps each way must agree (the budget is FLOP-metered)."""
    from bench.config import resolve_config
    from bench.core.errors import UserError
    from bench.run_pool import cpu_cores, parallel_jobs, run_all, threads_per_job

    names = [n.strip() for n in backbones.split(",") if n.strip()]
    if seeds < 1 or repeats < 1 or not names:
        raise UserError("--seeds and --repeats must be at least 1, and --backbones must name a backbone")
    cfgs = []
    for name in names:
        base = resolve_config(name, "tiny")
        for seed in range(seeds):
            cfgs.append(dataclasses.replace(base, seed=seed, budget=dataclasses.replace(base.budget, usd=budget_usd)))
    workers = parallel_jobs(jobs, len(cfgs), flop_metered=True)
    typer.echo(
        f"{len(cfgs)} runs ({', '.join(names)} x {seeds} seeds, ${budget_usd:g} each) on {cpu_cores()} cores: "
        f"sequential vs {workers} workers x {threads_per_job(workers)} thread(s)"
    )
    times: dict[int, list[float]] = {1: [], workers: []}
    steps: dict[int, int] = {}
    for repeat in range(repeats):
        for count in (1, workers):
            with tempfile.TemporaryDirectory() as tmp:
                tasks = [(str(i), _train_one, (cfg, Path(tmp) / str(i))) for i, cfg in enumerate(cfgs)]
                start = time.perf_counter()
                outcomes = list(run_all(tasks, count))
                times[count].append(time.perf_counter() - start)
            failed = [o.error for o in outcomes if o.error]
            if failed:
                raise UserError(f"a benchmark run failed: {failed[0]}")
            steps[count] = sum(o.value for o in outcomes)
            typer.echo(f"repeat {repeat + 1}: {'sequential' if count == 1 else 'parallel'} {times[count][-1]:.1f} s")
    seq, par = min(times[1]), min(times[workers])
    typer.echo(
        f"sequential: {seq:.1f} s  parallel: {par:.1f} s  (best of {repeats}; steps {steps[1]} / {steps[workers]})"
    )
    typer.echo(f"speed-up: {seq / par:.2f}x")
