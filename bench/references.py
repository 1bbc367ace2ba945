"""Reference rows for a comparison: `eval.references` scored on the runs' eval sets into one folder.

```
OUT/references/eval.csv                                    rows as a run's, checkpoint = reference name, $0
OUT/references/samples/eval/<set>/<reference>/0000.png     outputs, and scores.json with per-item scores
```

The folder is laid out like a run directory's eval part, so `bench report --references OUT/references` reads
it with the same code. Each eval set is scored once; a set whose items changed (other data settings) is
scored again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.eval_plan import COST_METRICS, EvalOptions, ItemCache, Job, scored_sets, scorer_key

if TYPE_CHECKING:
    from eval.harness import Scorer


def evaluate_references(run_dirs: list[Path], out_dir: Path, options: EvalOptions) -> Path:
    """Score every reference on the eval sets (and variants) of ``run_dirs``; returns ``out_dir/eval.csv``.

    ``options`` are `bench eval`'s (which eval sets, photos, variants, weights); adherence sets are left out.
    """
    import dataclasses

    from bench.commands.eval import build_scorer
    from bench.config import read_run_config
    from bench.eval_jobs import rows_of
    from bench.results import merge_rows, read_rows, write_rows
    from bench.rundir import CONFIG, EVAL_CSV, Checkpoint, RunDir
    from bench.sample_store import SampleStore
    from eval.references import REFERENCES, reference_outputs

    options = dataclasses.replace(options, adherence=())
    cache, store, path = ItemCache(), SampleStore(out_dir), Path(out_dir) / EVAL_CSV
    rows = {row.key: row for row in read_rows(path)}
    seen: set[tuple[str, int | None, str]] = set()
    scorers: dict[tuple[object, ...], Scorer] = {}
    scored = 0
    for run_dir in run_dirs:
        run = RunDir(run_dir)
        run.require_run()
        cfg = read_run_config(run.file(CONFIG))
        key = scorer_key(cfg)
        scorer = scorers[key] if key in scorers else scorers.setdefault(key, build_scorer(options, cfg))
        every, newest = scored_sets(cfg, options, cache, run.path)
        for items, metrics in every + newest:
            if (items.spec, items.strokes, items.variant) in seen:
                continue  # the first run's items stand for the set (a report refuses runs whose items differ)
            seen.add((items.spec, items.strokes, items.variant))
            metrics = tuple(m for m in metrics if m not in COST_METRICS)
            store.write_inputs(items)
            for name in REFERENCES:
                done = all((name, items.spec, items.strokes, m, items.variant) in rows for m in metrics)
                if done and store.read_outputs(items, name) is not None and not options.force:
                    continue
                outputs = reference_outputs(name, items)
                store.write_outputs(items, name, outputs)
                results = scorer.score(outputs, items, metrics)
                store.write_scores(items, name, {r.metric: r.values for r in results if r.values is not None})
                job = Job(Checkpoint(Path(out_dir), name, 0, 0, 0.0), items, metrics, resample=True)
                rows.update({row.key: row for row in rows_of(job, results, {})})
                scored += 1
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_rows(path, merge_rows([], list(rows.values())))
    if not options.quiet:
        typer.echo(f"references: {scored} reference x eval-set scorings ({', '.join(REFERENCES)}); rows in {path}")
    return path
