"""The `sd` backbone beyond the contract: diffusers interop, the full preset's loading path, offline errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from backbones import create_backbone
from backbones.sd_controlnet import SDControlNet
from backbones.text_encoders import tiny_tokenizer
from bench.core.errors import UserError

#: a full-preset override that fits the tiny saved model (f=4 codec, fp32 on CPU)
TINY_AS_FULL = {"hint_embedding_channels": [16, 32, 64], "weight_dtype": "float32", "gradient_checkpointing": False}


@pytest.fixture(scope="module")
def tiny() -> SDControlNet:
    torch.manual_seed(0)
    return create_backbone("sd", "tiny", 64)


def _write_clip_tokenizer(folder: Path, words: int) -> None:
    """A working CLIP BPE tokenizer with a tiny vocabulary (single characters), or a broken 2-token one."""
    folder.mkdir(parents=True)
    specials = ["<|startoftext|>", "<|endoftext|>"]
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)][:words]
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars] + specials)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))


def _save_as_sd15_folder(backbone: SDControlNet, root: Path, words: int = 26) -> Path:
    """The tiny model's parts in the layout of the SD 1.5 repository on the Hub."""
    backbone.unet.save_pretrained(root / "unet")
    backbone.vae.save_pretrained(root / "vae")
    backbone.text_encoder.save_pretrained(root / "text_encoder")
    backbone.noise_scheduler.save_pretrained(root / "scheduler")
    _write_clip_tokenizer(root / "tokenizer", words)
    return root


def test_tiny_preset_trains_base_and_full_preset_freezes_it(tiny: SDControlNet) -> None:
    trainable = {id(p) for p in tiny.trainable_parameters()}
    assert all(id(p) in trainable for p in tiny.unet.parameters())
    assert all(id(p) in trainable for p in tiny.controlnet.parameters())
    assert not any(id(p) in trainable for p in tiny.vae.parameters())
    assert tiny.controlnet.config.conditioning_channels == 5 + 4 * 6  # the hint + the tiny preset's 6 spread grids


def test_full_preset_loads_from_a_local_folder_and_trains_only_the_controlnet(tiny, tmp_path) -> None:
    source = _save_as_sd15_folder(tiny, tmp_path / "sd15")
    full = create_backbone("sd", "full", 64, {"pretrained": str(source), **TINY_AS_FULL})
    assert torch.equal(full.unet.conv_in.weight, tiny.unet.conv_in.weight)
    trainable = {id(p) for p in full.trainable_parameters()}
    assert trainable == {id(p) for p in full.controlnet.parameters()}
    full.train()
    batch_pixels = torch.rand(1, 3, 64, 64) * 2 - 1
    from backbones.base import Batch

    loss, _ = full.training_loss(Batch(batch_pixels, torch.rand(1, 5, 64, 64), ["abc"], ["k"]))
    loss.backward()
    assert all(p.grad is None for p in full.unet.parameters())


def test_broken_tokenizer_is_refused(tiny, tmp_path) -> None:
    source = _save_as_sd15_folder(tiny, tmp_path / "sd15", words=0)
    with pytest.raises(UserError, match="vocabulary of 2 tokens"):
        create_backbone("sd", "full", 64, {"pretrained": str(source), **TINY_AS_FULL})


def test_missing_weights_offline_fail_at_once_with_one_sentence(monkeypatch, network_attempts: list[object]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        create_backbone("sd", "full", 512, {"pretrained": "nobody-here/no-such-model"})
    message = str(info.value)
    assert "huggingface-cli download nobody-here/no-such-model" in message
    assert "HF_HUB_OFFLINE" in message and "\n" not in message
    assert network_attempts == []  # nothing was downloaded, nor even asked of the Hub


def test_missing_local_folder_is_named(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="does not exist"):
        create_backbone("sd", "full", 512, {"pretrained": str(tmp_path / "empty")})


def test_saved_controlnet_runs_in_diffusers_pipeline(tiny, tmp_path) -> None:
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    tiny.save_trainable(tmp_path / "control")
    controlnet = ControlNetModel.from_pretrained(tmp_path / "control", use_safetensors=True)
    assert controlnet.config.conditioning_channels == tiny.config.control_hint_channels
    pipe = StableDiffusionControlNetPipeline(
        vae=tiny.vae,
        text_encoder=tiny.text_encoder,
        tokenizer=tiny.tokenizer,
        unet=tiny.unet,
        controlnet=controlnet,
        scheduler=tiny._sampler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out = pipe(
        "a red circle",
        image=tiny.control_hint(torch.rand(1, 5, 64, 64)),
        num_inference_steps=2,
        height=64,
        width=64,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    ).images
    assert out.shape == (1, 3, 64, 64)


def test_text_embeddings_are_cached_per_caption(tiny) -> None:
    calls = []
    handle = tiny.text_encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        tiny._text_cache.clear()
        tiny.encode_text(["a red circle", "a blue square", "a red circle"])
        tiny.encode_text(["a blue square"])
    finally:
        handle.remove()
    assert calls == [1, 1]  # each new caption encoded once, alone (resumes stay exact); a hit never encodes


def test_hint_embedding_must_match_the_codec() -> None:
    with pytest.raises(UserError, match="downsample the hint by 8"):
        create_backbone("sd", "tiny", 64, {"hint_embedding_channels": [16, 32, 96, 256]})


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="weight_dtype"):
        create_backbone("sd", "tiny", 64, {"weight_dtype": "float8"})
    with pytest.raises(UserError, match="not divisible by 8"):
        create_backbone("sd", "tiny", 60)
    with pytest.raises(UserError, match="valid: full, tiny"):
        create_backbone("sd", "huge", 64)


def test_tokenizer_is_word_level_over_builtin_captions() -> None:
    tokenizer = tiny_tokenizer()
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("an outlined red-to-blue gradient circle").input_ids)
    assert tokens[1:-1] == ["an", "outlined", "red", "-", "to", "-", "blue", "gradient", "circle"]
    assert tokenizer("zebra").input_ids[1] == tokenizer.unk_token_id


@pytest.mark.slow
def test_plan_full_preset_without_download() -> None:
    from bench.config import resolve_config
    from bench.plan import make_plan

    cfg = resolve_config("sd", "full")
    plan = make_plan(cfg, measure=False)
    assert 1.40e9 < plan.parameters_total < 1.45e9
    assert 3.5e8 < plan.parameters_trainable < 3.7e8
    assert plan.memory_bytes(8) < 24 * 2**30
