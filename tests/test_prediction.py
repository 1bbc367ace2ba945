"""The v-prediction option: conversions, samplers that land on the data given an exact v model, all backbones."""

from __future__ import annotations

import pytest
import torch

from backbones import create_backbone
from backbones.base import Batch
from backbones.cascade_schedule import log_snr, sample_ddpm, scalers
from backbones.if_schedule import denoise
from backbones.prediction import epsilon_from, per_sample_loss, velocity
from bench.core.errors import UserError


def test_velocity_and_back_to_the_noise() -> None:
    x0, noise = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    a = torch.tensor([0.01, 0.8]).view(-1, 1, 1, 1)
    b = (1 - a**2).sqrt()
    x_t = a * x0 + b * noise
    v = velocity(x0, noise, a, b)
    assert torch.allclose(epsilon_from(v, x_t, a, b, "v"), noise, atol=1e-5)
    assert torch.equal(epsilon_from(noise, x_t, a, b, "epsilon"), noise)
    assert torch.allclose(v[0], -x0[0], atol=0.05)  # at the noisiest level the target is (minus) the image


def test_high_noise_weight_runs_from_the_epsilon_loss_to_the_v_loss() -> None:
    x0, noise, pred = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    a = torch.tensor([0.05, 0.5, 0.99]).view(-1, 1, 1, 1)
    b = (1 - a**2).sqrt()
    x_t = a * x0 + b * noise
    as_eps = per_sample_loss(epsilon_from(pred, x_t, a, b, "v"), x0, noise, a, b, "epsilon")
    assert torch.allclose(per_sample_loss(pred, x0, noise, a, b, "v", 0.0), as_eps, rtol=1e-4)
    plain_v = (pred - velocity(x0, noise, a, b)).pow(2).mean(dim=(1, 2, 3))
    assert torch.allclose(per_sample_loss(pred, x0, noise, a, b, "v", 1.0), plain_v)
    half = per_sample_loss(pred, x0, noise, a, b, "v", 0.5)
    assert bool((as_eps <= half + 1e-6).all() and (half <= plain_v + 1e-6).all())


def test_cascade_sampler_lands_on_the_data_from_an_exact_v_model() -> None:
    x0 = torch.full((1, 2, 2, 2), 0.7)

    def exact_v(x: torch.Tensor, t_cond: torch.Tensor) -> torch.Tensor:
        a, b = (s.view(-1, 1, 1, 1) for s in scalers(log_snr(t_cond)))
        return velocity(x0, (x - a * x0) / b, a, b)

    out = sample_ddpm(exact_v, torch.randn(1, 2, 2, 2), 10, torch.Generator().manual_seed(0), prediction="v")
    assert torch.allclose(out, x0, atol=1e-3)


@pytest.mark.parametrize("variance", ["fixed_small", "learned"])
def test_if_sampler_lands_on_the_data_from_an_exact_v_model(variance: str) -> None:
    backbone = create_backbone("if", "tiny", 64, {"prediction": "v", "sample_variance": variance})
    scheduler = backbone._scheduler()
    abar = scheduler.alphas_cumprod
    x0 = torch.full((1, 3, 4, 4), 0.4)

    def exact_v(x: torch.Tensor, t: torch.Tensor, doubled: bool) -> torch.Tensor:
        a, b = abar[t].sqrt(), (1 - abar[t]).sqrt()
        v = velocity(x0, (x - a * x0) / b, a, b)
        return torch.cat([v, torch.zeros_like(v)], dim=1) if variance == "learned" else v

    out = denoise(exact_v, scheduler, torch.randn(1, 3, 4, 4), 20, 1.0, torch.Generator().manual_seed(0), variance)
    assert torch.allclose(out, x0, atol=0.02)


@pytest.mark.parametrize("name", ["sd", "cascade", "if"])
def test_every_backbone_trains_and_samples_with_v(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(name, "tiny", 64, {"prediction": "v"})
    batch = Batch(torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 5, 64, 64), ["a", "b"], ["k/0", "k/1"])
    loss, _ = backbone.training_loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    images = backbone.sample(batch.hint, batch.captions, steps=2, guidance=2.0, generator=torch.Generator())
    assert images.shape == (2, 3, 64, 64) and 0 <= float(images.min()) <= float(images.max()) <= 1


def test_v_needs_a_base_that_trains_and_a_known_name() -> None:
    with pytest.raises(UserError, match="prediction = 'v' needs model.train_base = true"):
        create_backbone("cascade", "tiny", 64, {"prediction": "v", "train_base": False})
    with pytest.raises(UserError, match="high_noise_weight must be in"):
        create_backbone("sd", "tiny", 64, {"prediction": "v", "high_noise_weight": 2.0})
    with pytest.raises(UserError, match="prediction must be one of epsilon, v"):
        create_backbone("if", "tiny", 64, {"prediction": "x0"})


def test_sd_zero_terminal_snr_needs_v() -> None:
    with pytest.raises(UserError, match="zero_terminal_snr needs model.prediction"):
        create_backbone("sd", "tiny", 64, {"zero_terminal_snr": True, "prediction": "epsilon"})
