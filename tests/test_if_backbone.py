"""The `if` backbone beyond the contract: the control module, learned variance, the text cache, loading paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from backbones import create_backbone
from backbones.base import Batch
from backbones.deepfloyd_if import DeepFloydIF, hint_size_for
from backbones.if_control import IFControlNet, residual_channels
from backbones.if_schedule import variance_term
from bench.core.errors import UserError

CAPTIONS = ["a red circle over a blue square", ""]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("text-cache")


@pytest.fixture(scope="module")
def tiny(cache_dir: Path) -> DeepFloydIF:
    torch.manual_seed(0)
    # zero-initialised outputs as in `full` (the tiny preset starts them live; test_control_init covers that)
    return create_backbone("if", "tiny", 64, {"text_cache_dir": str(cache_dir), "zero_init_control": True})


def _inputs(backbone: DeepFloydIF, n: int = 2) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, 64, 64, generator=gen)
    t = torch.tensor([10, 900])[:n]
    hint = torch.rand(n, 5, backbone.hint_size, backbone.hint_size, generator=gen)
    return x, t, backbone.encode_text(CAPTIONS[:n]), hint


def test_control_at_init_leaves_stage_one_unchanged(tiny: DeepFloydIF) -> None:
    x, t, text, hint = _inputs(tiny)
    with torch.no_grad():
        alone = tiny.unet(x, t, encoder_hidden_states=text).sample
        controlled = tiny.predict(x, t, text, hint)
        hint = tiny.control_hint(hint)  # what predict hands the control module
        down, mid = tiny.control(x, t, text, hint)
    assert controlled.shape == (2, 6, 64, 64)
    assert torch.equal(alone, controlled)
    assert all(not d.any() for d in down) and not mid.any()
    assert tiny.control.hint_embedding(hint).abs().sum() > 0  # the hint path is live; only the outputs are zero
    assert [d.shape[1] for d in down] == residual_channels(dict(tiny.unet.config))


def test_control_copies_the_unet_encoder_and_round_trips_in_diffusers_format(tiny: DeepFloydIF, tmp_path) -> None:
    assert torch.equal(tiny.control.conv_in.weight, tiny.unet.conv_in.weight)
    assert torch.equal(tiny.control.mid_block.attentions[0].to_q.weight, tiny.unet.mid_block.attentions[0].to_q.weight)
    with torch.no_grad():
        for conv in tiny.control.controlnet_down_blocks:
            conv.weight.normal_()  # as if trained: residuals become non-zero
    tiny.control.save_pretrained(tmp_path / "control")
    loaded = IFControlNet.from_pretrained(tmp_path / "control", use_safetensors=True)
    x, t, text, hint = _inputs(tiny)
    hint = tiny.control_hint(hint)
    with torch.no_grad():
        a, b = tiny.control(x, t, text, hint), loaded(x, t, text, hint)
        for conv in tiny.control.controlnet_down_blocks:
            conv.weight.zero_()
    assert any(d.abs().sum() > 0 for d in a[0])
    assert all(torch.equal(p, q) for p, q in zip(a[0], b[0], strict=True)) and torch.equal(a[1], b[1])
    assert (tmp_path / "control" / "diffusion_pytorch_model.safetensors").is_file()


def test_hint_encoder_downsamples_to_64_px(cache_dir: Path) -> None:
    assert [hint_size_for(r) for r in (32, 64, 100, 128, 256, 512)] == [64, 64, 128, 128, 256, 512]
    backbone = create_backbone("if", "tiny", 256, {"text_cache_dir": str(cache_dir)})
    assert backbone.hint_size == 256 and len(backbone.control.hint_embedding.blocks) == 4  # two stride-2 stages
    with pytest.raises(UserError, match="hint_embedding_channels needs 3 entries"):
        create_backbone("if", "tiny", 256, {"text_cache_dir": str(cache_dir), "hint_embedding_channels": [16, 32]})


def test_text_embeddings_come_from_the_disk_cache_on_a_second_run(tmp_path: Path) -> None:
    first = create_backbone("if", "tiny", 64, {"text_cache_dir": str(tmp_path)})
    states = first.encode_text(CAPTIONS)
    assert states.shape == (2, 77, first.text_width)
    assert first.embedder.cache.encoder_calls == 1 and first.embedder.loads == 1
    second = create_backbone("if", "tiny", 64, {"text_cache_dir": str(tmp_path)})
    assert torch.equal(second.encode_text(CAPTIONS), states)
    assert second.embedder.cache.encoder_calls == 0 and second.embedder.loads == 0
    assert second.prepare_captions(["A Red Circle Over A Blue Square ", "a new caption"]) == 1  # IF lower-cases


def test_variance_term_trains_only_the_variance_and_is_zero_at_the_posterior() -> None:
    from diffusers import DDPMScheduler

    from backbones.if_parts import shipped

    scheduler = DDPMScheduler.from_config(shipped("if_scheduler.json"))
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 3, 8, 8, generator=gen) * 2 - 1
    noise = torch.randn(3, 3, 8, 8, generator=gen)
    t = torch.tensor([0, 5, 700])
    xt = scheduler.add_noise(x0, noise, t)
    exact = variance_term(scheduler.alphas_cumprod, x0, xt, t, noise, -torch.ones_like(x0))
    assert abs(float(exact)) < 1e-5  # true noise and v = -1 (the posterior variance): KL is zero
    eps = noise.clone().requires_grad_(True)
    v = torch.zeros_like(x0, requires_grad=True)
    term = variance_term(scheduler.alphas_cumprod, x0, xt, t, eps + 0.3, v)
    term.backward()
    assert float(term.detach()) > 0 and eps.grad is None and v.grad.abs().sum() > 0
    assert not v.grad[0].any()  # t = 0 contributes nothing


def test_learned_and_fixed_variance_sampling_differ(tiny: DeepFloydIF, cache_dir: Path) -> None:
    fixed = create_backbone("if", "tiny", 64, {"text_cache_dir": str(cache_dir), "sample_variance": "fixed_small"})
    fixed.load_state_dict(tiny.state_dict())  # same weights; the untrained variance channels are not beta~_t's
    hints = torch.rand(2, 5, 64, 64, generator=torch.Generator().manual_seed(0))
    kwargs = {"steps": 3, "guidance": 2.0}
    learned = tiny.sample(hints, CAPTIONS, generator=torch.Generator().manual_seed(5), **kwargs)
    small = fixed.sample(hints, CAPTIONS, generator=torch.Generator().manual_seed(5), **kwargs)
    assert learned.shape == small.shape == (2, 3, 64, 64)
    assert not torch.equal(learned, small)


def test_samples_come_back_at_the_run_resolution(cache_dir: Path) -> None:
    backbone = create_backbone("if", "tiny", 32, {"text_cache_dir": str(cache_dir)})
    backbone.eval()
    out = backbone.sample(
        torch.rand(1, 5, 32, 32), ["a red circle"], steps=2, guidance=1.0, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (1, 3, 32, 32) and 0 <= float(out.min()) <= float(out.max()) <= 1
    batch = Batch(torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 5, 32, 32), CAPTIONS, ["a", "b"])
    loss, logs = backbone.training_loss(batch)
    assert torch.isfinite(loss) and {"mse", "vb", "t_mean"} <= set(logs)


def test_gated_weights_missing_offline_fail_at_once_with_one_sentence(
    monkeypatch, network_attempts: list[object]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        create_backbone("if", "full", 512, {"pretrained": "nobody-here/IF-I-M-v1.0"})
    message = str(info.value)
    assert "huggingface-cli download nobody-here/IF-I-M-v1.0" in message
    assert "gated" in message and "license" in message and "HF_HUB_OFFLINE" in message
    assert "\n" not in message
    assert network_attempts == []  # nothing was downloaded, nor even asked of the Hub


def _save_as_if_folder(backbone: DeepFloydIF, root: Path, with_text: bool = True) -> Path:
    """The tiny model's stage I (and T5) in the layout of an IF repository on the Hub."""
    backbone.unet.save_pretrained(root / "unet")
    backbone.noise_scheduler.save_pretrained(root / "scheduler")
    if with_text:
        tokenizer, t5 = backbone.embedder._build()
        tokenizer.save_pretrained(root / "tokenizer")
        t5.save_pretrained(root / "text_encoder")
    return root


def _as_full(source: Path, cache: Path) -> dict:
    return {
        "pretrained": str(source),
        "upscaler": "",
        "variant": "",
        "weight_dtype": "float32",
        "gradient_checkpointing": False,
        "hint_embedding_channels": [16],
        "text_cache_dir": str(cache),
    }


def test_full_preset_loads_from_a_local_folder_and_trains_only_the_control(tiny, tmp_path) -> None:
    source = _save_as_if_folder(tiny, tmp_path / "if-i")
    full = create_backbone("if", "full", 64, _as_full(source, tmp_path / "cache"))
    assert torch.equal(full.unet.conv_in.weight, tiny.unet.conv_in.weight)
    assert {id(p) for p in full.trainable_parameters()} == {id(p) for p in full.control.parameters()}
    assert not full.embedder.loaded  # T5 is not loaded up front ...
    states = full.encode_text(CAPTIONS)
    assert full.embedder.loads == 1 and full.embedder.encoder_device == torch.device("cpu")  # ... on a miss, on the CPU
    assert torch.equal(states, tiny.encode_text(CAPTIONS))
    full.encode_text(CAPTIONS[:1])
    full.encode_text(["a caption first seen now"])
    assert full.embedder.loads == 1  # a hit never loads it, and a later miss reuses the encoder kept on the CPU
    loss, _ = full.training_loss(
        Batch(torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 5, 64, 64), CAPTIONS, ["a", "b"])
    )
    loss.backward()
    assert all(p.grad is None for p in full.unet.parameters())


def test_full_preset_names_a_missing_text_encoder(tiny, tmp_path) -> None:
    source = _save_as_if_folder(tiny, tmp_path / "if-i", with_text=False)
    full = create_backbone("if", "full", 64, _as_full(source, tmp_path / "cache"))
    with pytest.raises(UserError, match="T5-XXL text encoder") as info:
        full.encode_text(["a caption nobody cached"])
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_full_preset_plans_batch_8_on_an_a10_without_downloading() -> None:
    from bench.config import resolve_config
    from bench.plan import A10_MEMORY_BYTES, make_plan

    plan = make_plan(resolve_config("if", "full", None, []), measure=False)
    assert plan.parameters_trainable < plan.parameters_total
    assert plan.memory_bytes(8) <= A10_MEMORY_BYTES
