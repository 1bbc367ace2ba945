"""The `cascade` backbone's own modules: controlled stage C, control module, EfficientNet encoder, schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import StableCascadeUNet

from backbones.cascade_control import CascadeControlNet
from backbones.cascade_parts import tiny_stage_c_config
from backbones.cascade_schedule import (
    LOG_SNR_RANGE,
    AdaptiveLossWeight,
    guide,
    log_snr,
    noise_cond,
    p2_weight,
    sample_ddpm,
    scalers,
)
from backbones.cascade_unet import ControlledStableCascadeUNet, default_control_blocks, resblock_channels
from backbones.efficientnet_encoder import (
    ARCHITECTURES,
    EfficientNetEncoder,
    architecture,
    load_stability_encoder,
    save_stability_encoder,
)
from bench.core.errors import UserError

CONFIGS = Path(__file__).parents[1] / "backbones" / "configs"


def tiny_stage_c(seed: int = 0) -> ControlledStableCascadeUNet:
    torch.manual_seed(seed)
    return ControlledStableCascadeUNet(**tiny_stage_c_config(32, 16, 16)).eval()


def tiny_control(stage_c: ControlledStableCascadeUNet, seed: int = 1) -> CascadeControlNet:
    torch.manual_seed(seed)
    stages, features = ARCHITECTURES["tiny"]
    blocks = default_control_blocks(stage_c.config)
    widths = resblock_channels(stage_c.config)
    control = CascadeControlNet(
        block_channels=[widths[i] for i in blocks], control_blocks=blocks, stages=stages, feature_channels=features
    )
    return control.eval()


def stage_c_inputs(batch: int = 2, side: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch, 16, side, side, generator=gen),
        "timestep_ratio": torch.rand(batch, generator=gen),
        "clip_text_pooled": torch.randn(batch, 1, 16, generator=gen),
        "clip_text": torch.randn(batch, 77, 16, generator=gen),
        "clip_img": torch.zeros(batch, 1, 16),
    }


def test_without_control_the_subclass_is_diffusers_stage_c() -> None:
    stage_c = tiny_stage_c()
    plain = StableCascadeUNet(**{k: v for k, v in stage_c.config.items() if not k.startswith("_")}).eval()
    plain.load_state_dict(stage_c.state_dict())
    inputs = stage_c_inputs()
    with torch.no_grad():
        assert torch.allclose(stage_c(**inputs).sample, plain(**inputs).sample, atol=1e-6)


def test_zero_initialised_control_leaves_stage_c_output_unchanged() -> None:
    stage_c, inputs = tiny_stage_c(), stage_c_inputs()
    control = tiny_control(stage_c)
    hint = torch.rand(2, 5, 64, 64)
    with torch.no_grad():
        features = control(hint)
        assert sum(f is not None for f in features) == len(control.config.control_blocks) > 0
        assert all(f is None or not f.any() for f in features)
        assert torch.equal(stage_c(**inputs, control=features).sample, stage_c(**inputs).sample)
        # once the projections are not zero, every injection point changes the prediction
        for projection in control.projections:
            torch.nn.init.normal_(projection[-1].weight, std=0.1)
        assert not torch.allclose(stage_c(**inputs, control=control(hint)).sample, stage_c(**inputs).sample)


def test_control_reaches_every_resblock_visit_it_names() -> None:
    stage_c, inputs = tiny_stage_c(), stage_c_inputs()
    visits = len(resblock_channels(stage_c.config))
    reference = stage_c(**inputs).sample.detach()
    for index in (0, visits - 1):
        control = [None] * visits
        control[index] = torch.ones(2, 32, 2, 2)  # resized to the block's 4 x 4
        with torch.no_grad():
            assert not torch.allclose(stage_c(**inputs, control=control).sample, reference), index


def test_default_injection_points_are_stabilitys_for_36b_and_scaled_for_lite() -> None:
    big = json.loads((CONFIGS / "cascade_prior.json").read_text())
    lite = json.loads((CONFIGS / "cascade_prior_lite.json").read_text())
    assert len(resblock_channels(big)) == 64 and len(resblock_channels(lite)) == 32
    assert default_control_blocks(big) == [0, 4, 8, 12, 51, 55, 59, 63]
    assert default_control_blocks(lite) == [0, 2, 4, 6, 25, 27, 29, 31]
    assert set(resblock_channels(lite)) == {1536}


def test_control_module_round_trips_through_save_pretrained(tmp_path: Path) -> None:
    stage_c = tiny_stage_c()
    control = tiny_control(stage_c)
    for projection in control.projections:
        torch.nn.init.normal_(projection[-1].weight, std=0.1)
    control.save_pretrained(tmp_path / "control")
    assert (tmp_path / "control" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = CascadeControlNet.from_pretrained(tmp_path / "control").eval()
    hint = torch.rand(1, 5, 64, 64)
    with torch.no_grad():
        for a, b in zip(control(hint), loaded(hint), strict=True):
            assert (a is None and b is None) or torch.equal(a, b)


def test_pretrained_hint_encoder_keeps_eval_mode_norms_a_random_one_trains_them() -> None:
    control = tiny_control(tiny_stage_c()).train()
    assert control.training and not control.backbone.training
    assert all(p.requires_grad for p in control.backbone.parameters())
    stages, features = architecture("tiny")
    fresh = CascadeControlNet(
        block_channels=[32], control_blocks=[0], stages=stages, feature_channels=features, frozen_norm=False
    ).train()
    assert fresh.backbone.training


def test_hint_encoder_starts_from_the_encoder_with_rgb_filters_on_the_stroke_channels() -> None:
    torch.manual_seed(3)
    stages, features = architecture("tiny")
    encoder = EfficientNetEncoder(stages=stages, feature_channels=features)
    control = tiny_control(tiny_stage_c())
    control.init_from_encoder(encoder)
    stem, rgb = control.backbone[0][0].weight, encoder.backbone[0][0].weight
    assert torch.equal(stem[:, 1:4], rgb) and not stem[:, 0].any() and not stem[:, 4].any()
    assert torch.equal(control.backbone[1][0].block[0][0].weight, encoder.backbone[1][0].block[0][0].weight)


def test_encoder_has_stabilitys_layout() -> None:
    with torch.device("meta"):
        encoder = EfficientNetEncoder()
    state = encoder.state_dict()
    assert state["backbone.0.0.weight"].shape == (24, 3, 3, 3)
    assert state["backbone.7.0.weight"].shape == (1280, 256, 1, 1)
    assert state["mapper.0.weight"].shape == (16, 1280, 1, 1)
    assert {"mapper.1.running_mean", "mapper.1.running_var"} <= set(state) and "mapper.1.weight" not in state
    assert 20e6 < sum(p.numel() for p in encoder.parameters()) < 21e6
    assert encoder.stride == 32


def test_encoder_loads_from_a_saved_copy_through_the_full_loading_path(tmp_path: Path) -> None:
    stages, features = architecture("tiny")
    torch.manual_seed(5)
    encoder = EfficientNetEncoder(stages=stages, feature_channels=features)
    with torch.no_grad():  # non-trivial batch statistics, as a trained encoder has
        encoder.mapper[1].running_mean.normal_()
        encoder.mapper[1].running_var.uniform_(0.5, 2.0)
    encoder.eval()
    save_stability_encoder(encoder, tmp_path / "effnet_encoder.safetensors")
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    for source in (tmp_path, tmp_path / "effnet_encoder.safetensors"):
        loaded = load_stability_encoder(str(source), arch="tiny")
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        with torch.no_grad():
            latents = loaded.encode(pixels)
            assert latents.shape == (2, 16, 4, 4)
            assert torch.equal(latents, encoder.encode(pixels))


def test_encoder_file_errors_are_one_sentence(tmp_path: Path) -> None:
    stages, features = architecture("tiny")
    save_stability_encoder(EfficientNetEncoder(stages=stages, feature_channels=features), tmp_path / "e.safetensors")
    with pytest.raises(UserError, match="does not fit the efficientnet_v2_s encoder"):
        load_stability_encoder(str(tmp_path / "e.safetensors"))  # an EfficientNetV2-S expects other tensors
    with pytest.raises(UserError, match="does not exist"):
        load_stability_encoder(str(tmp_path))  # no effnet_encoder.safetensors in the folder
    with pytest.raises(UserError, match="huggingface-cli download nobody-here/no-such-repo"):
        load_stability_encoder("nobody-here/no-such-repo")


def test_schedule_is_gdfs_cosine_and_noise_cond_inverts_it() -> None:
    t = torch.linspace(0.05, 0.95, 19)
    snr = log_snr(t)
    assert torch.all(snr[1:] < snr[:-1])  # more noise as t grows
    assert torch.allclose(noise_cond(snr), t, atol=1e-4)
    a, b = scalers(snr)
    assert torch.allclose(a**2 + b**2, torch.ones_like(a))
    assert LOG_SNR_RANGE[0] == pytest.approx(-9.21, abs=0.01) and LOG_SNR_RANGE[1] == pytest.approx(9.21, abs=0.01)
    assert torch.allclose(p2_weight(snr), 1 / (1 + snr.exp()))
    assert torch.all(log_snr(t, shift=2.0) < snr)  # a shift > 1 moves towards noise


def test_adaptive_weight_follows_the_running_loss_per_bucket() -> None:
    weight = AdaptiveLossWeight()
    snr = torch.tensor([-3.0, 4.0])
    assert torch.equal(weight(snr), torch.ones(2))
    for _ in range(1000):
        weight.update(snr, torch.tensor([4.0, 0.25]))
    assert torch.allclose(weight(snr), torch.tensor([0.25, 4.0]), rtol=0.01)


def test_ddpm_sampler_recovers_the_data_from_an_exact_model() -> None:
    """With the true epsilon of a point mass at ``x0``, the sampler lands on ``x0`` (up to the schedule's ends)."""
    x0 = torch.full((1, 2, 2, 2), 0.7)

    def exact_eps(x: torch.Tensor, t_cond: torch.Tensor) -> torch.Tensor:
        a, b = scalers(log_snr(t_cond))
        return (x - a.view(-1, 1, 1, 1) * x0) / b.view(-1, 1, 1, 1)

    out = sample_ddpm(exact_eps, torch.randn(1, 2, 2, 2), 10, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x0, atol=1e-3)


def test_guidance_lerps_and_rescales_per_image() -> None:
    cond, uncond = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    assert torch.allclose(guide(cond, uncond, 1.0, 0.0), cond)
    assert torch.allclose(guide(cond, uncond, 3.0, 0.0), uncond + 3 * (cond - uncond))
    rescaled = guide(cond, uncond, 3.0, 1.0)
    assert torch.allclose(rescaled.std(dim=(1, 2, 3)), cond.std(dim=(1, 2, 3)), rtol=1e-4)
