"""The one training loop: every backbone, the same accelerate loop, stopped at the same dollar budget.

The loop knows a backbone only through its interface (``model(batch)`` -> loss, ``trainable_parameters``,
``save_trainable`` / ``load_trainable``, ``sample``). It meters each optimizer step in dollars of A10 time
(`bench.budget`), checkpoints at budget marks, and resumes exactly: on CPU a run killed at any moment and
resumed ends with the same weights as an uninterrupted one, because the trainable weights, optimizer, LR
schedule, RNG states, data position and budget meter are all restored from the newest complete checkpoint.

Under ``accelerate launch`` each process trains on its own slice of every global batch (`bench.data.loader`),
only the main process writes the run directory, and the processes agree on each step's cost and on when to
stop (`bench.processes`); a run resumes on the number of processes it was started on.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from backbones import create_backbone, get_backbone_class
from backbones.base import Backbone, BackboneConfig
from bench import rundir
from bench.budget import BudgetMeter
from bench.config import RunConfig, dumps_toml
from bench.core.atomic import write_text
from bench.core.errors import UserError
from bench.cpu_threads import torch_threads, training_threads
from bench.data.loader import TrainStream
from bench.data.seeds import derive_seed
from bench.lr_schedule import lr_factor
from bench.optimizer import build_optimizer
from bench.processes import Processes, StopSignal
from bench.rundir import BUDGET, CONFIG, ENV, SAMPLES, Checkpoint, RunDir, environment, mark_name
from bench.trackers import accelerator_options, check_report_to, flat_config
from bench.training_state import EMA, load_state, rng_state, save_state, set_rng_state


@dataclass
class TrainResult:
    """What a finished (or interrupted) training call did."""

    steps: int
    usd: float
    checkpoint: Checkpoint | None
    interrupted: bool
    data_wait_fraction: float
    samples_per_second: float
    samples_file: Path | None = None
    #: items skipped by reason (``http_404``, ``not_image`` ...) and ``empty_caption``, resumes included
    data_counts: dict[str, int] = field(default_factory=dict)


def _accumulation_steps(cfg: RunConfig, processes: int) -> int:
    per_step = cfg.data.batch_size * processes
    if cfg.optim.effective_batch % per_step:
        raise UserError(
            f"optim.effective_batch={cfg.optim.effective_batch} is not a multiple of data.batch_size x processes "
            f"= {per_step}"
        )
    return cfg.optim.effective_batch // per_step


def _bar_format(total: float) -> str:
    """tqdm bar format showing spent / total dollars to two significant digits of the budget ($0.000021/$0.000050)."""
    decimals = max(2, 1 - math.floor(math.log10(total))) if total > 0 else 2
    money = f"${{n:.{decimals}f}}/${{total:.{decimals}f}}"
    return "{l_bar}{bar}| " + money + " [{elapsed}<{remaining}{postfix}]"


class Trainer:
    """One run: builds everything from the config, trains to the budget, checkpoints, resumes."""

    def __init__(self, cfg: RunConfig, run: RunDir, quiet: bool = False) -> None:
        self.cfg, self.run, self.quiet = cfg, run, quiet
        self.processes = Processes()
        torch.manual_seed(cfg.seed)
        self.accelerator = Accelerator(
            cpu=not torch.cuda.is_available(),
            mixed_precision=cfg.optim.mixed_precision,
            gradient_accumulation_steps=_accumulation_steps(cfg, 1),
            **accelerator_options(cfg.log.report_to, run.path),
        )
        if self.accelerator.num_processes > 1:
            self.accelerator.gradient_accumulation_steps = _accumulation_steps(cfg, self.accelerator.num_processes)
        self.backbone: Backbone = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
        self.threads = training_threads(cfg, self.backbone.config)
        self.params = [p for p in self.backbone.trainable_parameters()]
        if not self.params:
            raise UserError(f"backbone '{cfg.backbone}' ({cfg.preset}) has no trainable parameters")
        optimizer = build_optimizer(cfg, self.params)
        self.meter = BudgetMeter(cfg.budget, cfg.optim.mixed_precision, self.accelerator.device, self.processes.count)
        self.processes.device_kind(self.meter.state.device)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        # the schedule stays ours: accelerate's wrapper would step it once per process at every optimizer step
        self.scheduler = scheduler
        self.model, self.optimizer = self.accelerator.prepare(self.backbone, optimizer)
        self.ema = EMA(self.params, cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None
        if cfg.log.report_to != "none":  # accelerate starts trackers on the main process only
            self.accelerator.init_trackers(run.path.name, config=flat_config(dataclasses.asdict(cfg)))
        self.stream = TrainStream(cfg, rank=self.processes.rank, processes=self.processes.count)
        self.step = 0

    def _lr_factor(self, step: int) -> float:
        """The rate factor of optimizer step ``step``, from the share of the budget spent before it."""
        optim = self.cfg.optim
        share = self.meter.usd / self.cfg.budget.usd
        return lr_factor(step, share, optim.warmup_steps, optim.lr_decay, optim.decay_share)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _fill_checkpoint(self, folder: Path, shared: list[dict[str, Any]]) -> None:
        if self.ema is not None:  # the trainable module a checkpoint ships is the EMA one
            self.ema.swap()
        try:
            self.accelerator.unwrap_model(self.model).save_trainable(folder / rundir.CONTROL)
        finally:
            if self.ema is not None:
                self.ema.swap()
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "processes": self.processes.count,
            "rng": [own["rng"] for own in shared],
            "data": [own["data"] for own in shared],
            "meter": self.meter.to_json(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "live_weights": [p.detach() for p in self.params] if self.ema is not None else None,
        }
        save_state(folder / rundir.TRAINING_STATE, state)

    def save_checkpoint(self, name: str) -> Checkpoint:
        """Write checkpoint ``name`` with every process's RNG and data position (the main process writes)."""
        info = {"step": self.step, "samples": self.meter.state.samples, "usd": self.meter.usd}
        shared = self.processes.gather({"rng": rng_state(), "data": self.stream.state_dict()})

        def write() -> None:
            self.run.write_checkpoint(name, info, lambda folder: self._fill_checkpoint(folder, shared))
            write_text(self.run.file(BUDGET), json.dumps(self.meter.to_json(), indent=1))

        self.processes.on_main(write)
        return Checkpoint(self.run.checkpoints_dir / name, name, info["step"], info["samples"], info["usd"])

    def restore(self, checkpoint: Checkpoint) -> None:
        """Continue from ``checkpoint`` exactly where the run stood when it was written."""
        state = load_state(checkpoint.training_state)
        if not isinstance(state.get("rng"), list) or not isinstance(state.get("data"), list):
            raise UserError(
                f"{checkpoint.path} was written by an earlier strokebench whose training state this one cannot "
                "continue; start a new run (or evaluate this one as it is)"
            )
        trained_on = int(state.get("processes", 1))
        if trained_on != self.processes.count:
            raise UserError(
                f"{self.run.path} was trained on {trained_on} process(es), not {self.processes.count}; resume it on "
                f"{trained_on} (accelerate launch --num_processes {trained_on} -m bench train --resume ...)"
            )
        rank = self.processes.rank
        backbone = self.accelerator.unwrap_model(self.model)
        backbone.load_trainable(checkpoint.control)
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
            with torch.no_grad():
                for param, live in zip(self.params, state["live_weights"], strict=True):
                    param.copy_(live)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"][rank])
        self.stream.load_state_dict(state["data"][rank])
        self.meter.load_json(state["meter"])
        self.step = int(state["step"])
        self.processes.on_main(lambda: self.run.truncate_log(self.step))

    def skip_counts(self) -> dict[str, int]:
        """Items skipped so far by every process, by reason (`TrainStream.skip_counts`)."""
        total: dict[str, int] = {}
        for counts in self.processes.gather(self.stream.skip_counts()):
            for reason, count in counts.items():
                total[reason] = total.get(reason, 0) + count
        return total

    def write_samples(self) -> Path:
        """Sample the first eval batch with the final weights: hint | target | sample, one row per item."""
        from bench.data.eval_split import eval_batches
        from bench.sampling import sample_batch, write_sample_grid

        batch = eval_batches(self.cfg, batch_size=min(8, self.cfg.data.eval_size))[0]
        backbone = self.accelerator.unwrap_model(self.model)
        backbone.eval()
        if self.ema is not None:
            self.ema.swap()
        try:
            images = sample_batch(backbone, batch, self.cfg, self.meter)
        finally:
            if self.ema is not None:
                self.ema.swap()
        path = self.run.path / SAMPLES / f"{mark_name(self.meter.usd)}.png"
        write_sample_grid(path, batch, images)
        write_text(self.run.file(BUDGET), json.dumps(self.meter.to_json(), indent=1))
        return path

    # -- the loop ------------------------------------------------------------------------------------------
    def _micro_step(self, batch: Any, index: int, count_flops: bool) -> tuple[float, dict[str, float], float]:
        """Forward + backward of global micro-batch ``index``; returns (loss, logs, counted FLOPs or 0).

        Its random draws (noise, timesteps, caption dropout) come from (run seed, ``index``), which names the same
        items on any number of processes, so a run's weights do not depend on how many processes train it."""
        torch.manual_seed(derive_seed("draws", self.cfg.seed, index))
        batch = batch.to(self.accelerator.device)
        counter = FlopCounterMode(display=False) if count_flops else None
        with self.accelerator.accumulate(self.model):
            if counter is not None:
                with counter:
                    loss, logs = self.model(batch)
                    self.accelerator.backward(loss)
            else:
                loss, logs = self.model(batch)
                self.accelerator.backward(loss)
            value = float(loss.detach())
            if not math.isfinite(value):
                last = self.run.latest()
                kept = f"the last good checkpoint is {last.name}" if last else "no checkpoint was written yet"
                raise UserError(f"loss became {value} at step {self.step + 1}; stopped ({kept})")
            if self.accelerator.sync_gradients and self.cfg.optim.grad_clip > 0:
                self.accelerator.clip_grad_norm_(self.params, self.cfg.optim.grad_clip)
            self.optimizer.step()
            if self.accelerator.sync_gradients and not self.accelerator.optimizer_step_was_skipped:
                self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        return value, logs, float(counter.get_total_flops()) if counter is not None else 0.0

    def train(self, stop: StopSignal) -> TrainResult:
        marks = [m for m in self.meter.marks() if m > self.meter.usd + 1e-15]
        accumulation = self.accelerator.gradient_accumulation_steps
        bar = tqdm(
            total=self.cfg.budget.usd,
            initial=min(self.meter.usd, self.cfg.budget.usd),
            disable=self.quiet or not self.processes.is_main,
            unit="$",
            bar_format=_bar_format(self.cfg.budget.usd),
            desc=f"train {self.cfg.backbone}",
        )
        self.backbone.prepare_captions(self.stream.run_captions())  # text encoded once, outside the metered steps
        self.model.train()
        window = {"wait": 0.0, "time": 0.0, "samples": 0}
        totals = {"wait": 0.0, "time": 0.0, "samples": 0}
        checkpoint = self.run.latest()
        interrupted = False
        # a step's time runs from the previous step's to this one's: the bookkeeping between steps (meter, log
        # line, progress bar) is part of what a step costs; a checkpoint write is not, and restarts the clock
        step_start = time.perf_counter()
        while not self.meter.exhausted:
            losses, logs, flops, wait = [], {}, 0.0, 0.0
            for _ in range(accumulation):
                fetch, index = time.perf_counter(), self.stream.global_batch
                batch = next(self.stream)
                wait += time.perf_counter() - fetch
                value, logs, counted = self._micro_step(batch, index, self.meter.needs_flops)
                losses.append(value)
                flops += counted
            if self.ema is not None:
                self.ema.update()
            self.step += 1
            now = time.perf_counter()
            elapsed, step_start = now - step_start, now
            loss = sum(losses) / len(losses)
            elapsed, stopping, flops, loss = self.processes.agree_on_step(
                elapsed, stop.received is not None, flops, loss
            )
            if self.meter.needs_flops:
                self.meter.set_flops_per_step(flops)
            samples = accumulation * self.cfg.data.batch_size * self.accelerator.num_processes
            before = self.meter.usd
            usd = self.meter.charge_step(elapsed, samples)
            bar.update(min(usd, self.cfg.budget.usd) - min(before, self.cfg.budget.usd))
            for acc in (window, totals):
                acc["wait"] += wait
                acc["time"] += elapsed
                acc["samples"] += samples
            bar.set_postfix_str(f"step {self.step}, loss {loss:.4f}, {samples / elapsed:.1f} samples/s", refresh=False)
            if self.step % max(1, self.cfg.log_every) == 0:
                skipped = self.skip_counts()
                record = {
                    "step": self.step,
                    "loss": loss,
                    "lr": self.scheduler.get_last_lr()[0],
                    "usd": usd,
                    "samples_per_s": window["samples"] / window["time"],
                    "data_wait": window["wait"] / window["time"],
                    **{k: float(v) for k, v in logs.items()},
                    **{f"data/{k}": v for k, v in skipped.items()},
                }
                if self.processes.is_main:
                    self.run.append_log(record)
                    self.accelerator.log(record, step=self.step)
                window = {"wait": 0.0, "time": 0.0, "samples": 0}
            while marks and usd >= marks[0] - 1e-15:
                reached = marks.pop(0)
                if not marks or usd < marks[0]:
                    checkpoint = self.save_checkpoint(mark_name(reached))
                    step_start = time.perf_counter()
            if stopping and not self.meter.exhausted:
                checkpoint = self.save_checkpoint(mark_name(usd))
                interrupted = True
                break
        bar.close()
        for tracker in self.accelerator.trackers:  # not end_training: it ends the process group too
            tracker.finish()
        return TrainResult(
            steps=self.step,
            usd=self.meter.usd,
            checkpoint=checkpoint,
            interrupted=interrupted,
            data_wait_fraction=totals["wait"] / totals["time"] if totals["time"] else 0.0,
            samples_per_second=totals["samples"] / totals["time"] if totals["time"] else 0.0,
            data_counts=self.skip_counts(),
        )


def model_config(cfg: RunConfig) -> BackboneConfig:
    """The run's backbone config (preset + ``model.*`` overrides, checked), without building the backbone."""
    return get_backbone_class(cfg.backbone).config_class.from_preset(cfg.backbone, cfg.preset, cfg.model)


def validate_config(cfg: RunConfig) -> None:
    """Check everything a run needs before any directory is written (one-line errors)."""
    from bench.data.captions import parse_caption_colors
    from bench.data.options import SourceOptions
    from bench.data.sources import open_source

    parse_caption_colors(cfg.data.caption_colors)
    if cfg.budget.usd <= 0:
        raise UserError(f"the budget must be more than $0, got ${cfg.budget.usd}")
    check_report_to(cfg.log.report_to)
    if cfg.budget.usd * cfg.budget.mark_every < 1e-9:
        raise UserError(f"budget marks under $1e-9 cannot be told apart; raise the budget (${cfg.budget.usd})")
    cls = get_backbone_class(cfg.backbone)
    threads = model_config(cfg).cpu_threads
    if threads < 0:
        raise UserError(f"model.cpu_threads must be 0 (automatic) or a number of threads, got {threads}")
    multiple = getattr(cls, "resolution_multiple", 1)
    if isinstance(multiple, int) and cfg.data.resolution % multiple:
        raise UserError(
            f"data.resolution={cfg.data.resolution} is not divisible by {multiple}, which the '{cfg.backbone}' "
            "backbone needs"
        )
    if cfg.data.batch_size < 1 or cfg.data.num_workers < 0:
        raise UserError("data.batch_size must be >= 1 and data.num_workers >= 0")
    _accumulation_steps(cfg, 1)
    open_source(cfg.data.source, "train", cfg.data.resolution, cfg.data.train_size, SourceOptions.from_config(cfg.data))


def start_run(cfg: RunConfig, out: Path) -> RunDir:
    """Create a new run directory with its resolved config and environment (refuses to overwrite a run).

    Under ``accelerate launch`` the main process creates it while the others wait."""
    processes = Processes()
    run = RunDir(out)
    processes.on_main(lambda: _create_run(cfg, run, processes.count))
    return run


def _create_run(cfg: RunConfig, run: RunDir, processes: int) -> None:
    out = run.path
    if run.is_run():
        raise UserError(f"{out} already holds a run; continue it with --resume {out} or choose another --out")
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_text(run.file(CONFIG), dumps_toml(cfg))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    threads = training_threads(cfg, model_config(cfg)) or torch.get_num_threads()
    write_text(run.file(ENV), json.dumps({**environment(device, threads), "processes": processes}, indent=1))


def train_run(cfg: RunConfig, run: RunDir, resume: bool, quiet: bool) -> TrainResult:
    """Train (or continue) the run in ``run`` until its budget is spent or a stop signal arrives."""
    trainer = Trainer(cfg, run, quiet)
    if resume:
        trainer.processes.on_main(run.clean_partial)
        latest = run.latest()
        if latest is not None:
            trainer.restore(latest)
        else:
            trainer.processes.on_main(lambda: run.truncate_log(0))
    with torch_threads(trainer.threads):
        with StopSignal() as stop:
            result = trainer.train(stop)
        if not result.interrupted and trainer.processes.is_main:
            result.samples_file = trainer.write_samples()
    return result
