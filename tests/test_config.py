"""Config: presets load, overrides are typed, bad keys and values fail with one line naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import (
    RunConfig,
    apply_overrides,
    dumps_toml,
    preset_names,
    read_run_config,
    resolve_config,
)
from bench.core.errors import UserError


def test_every_shipped_preset_loads() -> None:
    assert {"tiny", "full"} <= set(preset_names())
    for name in preset_names():
        cfg = resolve_config(preset=name)
        assert cfg.preset == name
        assert cfg.data.resolution > 0 and cfg.budget.usd > 0


def test_overrides_are_coerced_to_field_types() -> None:
    cfg = apply_overrides(
        RunConfig(),
        [
            "optim.lr=1e-5",
            "data.resolution=128",
            "optim.use_8bit_adam=true",
            "hints.num_strokes=2,8",
            "hints.blur_prob=0",
            "data.source=builtin:photos",
            "model.gradient_checkpointing=true",
        ],
    )
    assert cfg.optim.lr == pytest.approx(1e-5)
    assert cfg.data.resolution == 128 and isinstance(cfg.data.resolution, int)
    assert cfg.optim.use_8bit_adam is True
    assert cfg.hints.num_strokes == (2, 8)
    assert cfg.hints.blur_prob == 0.0 and isinstance(cfg.hints.blur_prob, float)
    assert cfg.data.source == "builtin:photos"
    assert cfg.model == {"gradient_checkpointing": True}


def test_int_or_range_field_accepts_both_forms() -> None:
    assert apply_overrides(RunConfig(), ["hints.num_strokes=10"]).hints.num_strokes == 10
    assert apply_overrides(RunConfig(), ["hints.num_strokes=[1, 4]"]).hints.num_strokes == (1, 4)


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("nosuch.field=1", "nosuch"),
        ("optim.lr=fast", "optim.lr"),
        ("data.resolution=1.5", "data.resolution"),
        ("optim.use_8bit_adam=maybe", "optim.use_8bit_adam"),
        ("hints.num_strokes=a,b", "hints.num_strokes"),
        ("optim.lr", "section.field=value"),
        ("model.a.b=1", "model"),
    ],
)
def test_bad_overrides_fail_with_one_line_naming_the_key(override: str, needle: str) -> None:
    with pytest.raises(UserError) as info:
        apply_overrides(RunConfig(), [override])
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(UserError, match="tiny"):
        resolve_config(preset="huge")


def test_config_file_then_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("seed = 7\n[optim]\nlr = 0.5\n[data]\nbatch_size = 2\n")
    cfg = resolve_config(config_file=path, overrides=["optim.lr=0.25"])
    assert cfg.seed == 7 and cfg.data.batch_size == 2 and cfg.optim.lr == 0.25


def test_bad_config_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        resolve_config(config_file=tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[optim\nlr = 1")
    with pytest.raises(UserError, match="not valid TOML"):
        resolve_config(config_file=broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[optim]\nlr = 'high'\n")
    with pytest.raises(UserError, match="optim.lr"):
        resolve_config(config_file=wrong)


def test_resolved_config_round_trips_through_toml(tmp_path: Path) -> None:
    cfg = resolve_config("sd", "tiny", overrides=["hints.num_strokes=3,5", "model.foo=1"])
    path = tmp_path / "config.toml"
    path.write_text(dumps_toml(cfg))
    assert read_run_config(path) == cfg


def test_data_section_carries_the_source_options_with_their_defaults() -> None:
    """``--set data.fetch_threads=...`` must reach the fetcher, and the config's defaults must be the sources'."""
    import dataclasses

    from bench.config import DataConfig
    from bench.data.options import SourceOptions

    data, options = DataConfig(), SourceOptions()
    for item in dataclasses.fields(SourceOptions):
        assert hasattr(data, item.name), item.name
        assert getattr(data, item.name) == getattr(options, item.name), item.name
    changed = SourceOptions.from_config(dataclasses.replace(data, fetch_threads=7, streaming=True))
    assert changed.fetch_threads == 7 and changed.streaming
