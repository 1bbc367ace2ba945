"""Training noise-level draws: uniform (the real systems' recipe) and T2I-Adapter's cubic bias to high noise."""

from __future__ import annotations

import pytest
import torch

from backbones import create_backbone, get_backbone_class
from backbones.cascade_schedule import sample_t
from backbones.timesteps import discrete_timesteps, noise_fractions
from bench.core.errors import UserError


def test_cubic_draws_stay_in_range_and_favour_high_noise() -> None:
    torch.manual_seed(0)
    uniform = discrete_timesteps("uniform", 20000, 1000)
    cubic = discrete_timesteps("cubic", 20000, 1000)
    for t in (uniform, cubic):
        assert t.dtype == torch.int64 and int(t.min()) >= 0 and int(t.max()) <= 999
    assert abs(float(uniform.float().mean()) - 499.5) < 10
    # E[1 - u^3] = 3/4: three quarters of the way to pure noise on average
    assert abs(float(cubic.float().mean()) - 749.5) < 10
    fractions = noise_fractions("cubic", 20000)
    assert float((fractions > 0.5).float().mean()) == pytest.approx(0.5 ** (1 / 3), abs=0.02)


def test_cascade_continuous_timesteps_follow_the_setting() -> None:
    torch.manual_seed(0)
    uniform, cubic = sample_t(20000, "cpu"), sample_t(20000, "cpu", "cubic")
    for t in (uniform, cubic):
        assert float(t.min()) >= 0.001 and float(t.max()) <= 1.0
    assert float(cubic.mean()) > float(uniform.mean()) + 0.2


def test_uniform_is_the_default_and_an_unknown_kind_is_a_user_error() -> None:
    for name in ("sd", "cascade", "if"):  # the full presets train as the real systems did
        config = get_backbone_class(name).config_class.from_preset(name, "full")
        assert config.timestep_sampling == "uniform" and config.prediction == "epsilon" and config.zero_init_control
    with pytest.raises(UserError, match="timestep_sampling must be one of uniform, cubic"):
        create_backbone("sd", "tiny", 64, {"timestep_sampling": "quadratic"})


def test_sd_zero_terminal_snr_trains_v_and_samples_from_pure_noise() -> None:
    backbone = create_backbone("sd", "tiny", 64, {"zero_terminal_snr": True, "prediction": "v"})
    scheduler = backbone.noise_scheduler
    assert scheduler.config.prediction_type == "v_prediction"
    assert float(scheduler.alphas_cumprod[-1]) < 1e-6  # nothing of the image is left at the last step
    plain = create_backbone("sd", "tiny", 64, {"zero_terminal_snr": False, "prediction": "epsilon"})
    assert float(plain.noise_scheduler.alphas_cumprod[-1]) > 1e-3  # SD 1.5's schedule keeps a trace
    assert backbone._sampler().config.prediction_type == "v_prediction"
    images = backbone.sample(
        torch.rand(1, 5, 64, 64), ["a red circle"], steps=2, guidance=1.0, generator=torch.Generator().manual_seed(0)
    )
    assert images.shape == (1, 3, 64, 64) and float(images.min()) >= 0 and float(images.max()) <= 1


def test_zero_terminal_snr_refuses_a_frozen_pretrained_base() -> None:
    with pytest.raises(UserError, match="needs model.train_base"):
        create_backbone("sd", "tiny", 64, {"zero_terminal_snr": True, "prediction": "v", "train_base": False})
