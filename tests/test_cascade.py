"""The `cascade` backbone beyond the contract: the full preset's loading path (tiny parts saved in the published
layouts, decoded through diffusers' Stable Cascade decoder), offline and float16 errors, text caching, planning."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import backbones
from backbones import create_backbone, tiny_codec
from backbones.base import Batch
from backbones.cascade import CascadeConfig, StableCascadeControl
from backbones.cascade_codec import EffnetStageBA
from backbones.cascade_parts import tiny_stage_c_config
from backbones.efficientnet_encoder import EfficientNetEncoder, architecture, save_stability_encoder
from bench.core.errors import UserError

#: the full preset's code path on tiny parts: no bf16 on CPU, the tiny EfficientNet in the encoder file
TINY_AS_FULL = {"weight_dtype": "float32", "encoder_arch": "tiny", "gradient_checkpointing": False}
TEXT_WIDTH = 16


@pytest.fixture(autouse=True, scope="module")
def cascade_ready() -> Iterator[None]:
    """Registered as `cascade`; until `bench codec fit` has shipped the cascade codec, a random one stands in."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(backbones._REGISTRY, "cascade", "backbones.cascade:StableCascadeControl")
        if not tiny_codec.weight_paths("cascade")[0].is_file():

            def stand_in(name: str, weights_dir: object = None) -> object:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(1234)
                    vae = tiny_codec.build_codec(name)
                vae.requires_grad_(False)
                return vae.eval()

            patch.setattr(tiny_codec, "load_codec", stand_in)
        yield


@pytest.fixture(scope="module")
def tiny(cascade_ready: None) -> StableCascadeControl:
    torch.manual_seed(0)
    return create_backbone("cascade", "tiny", 64)


def _batch(n: int = 2, size: int = 64) -> Batch:
    gen = torch.Generator().manual_seed(0)
    return Batch(
        torch.rand(n, 3, size, size, generator=gen) * 2 - 1,
        torch.rand(n, 5, size, size, generator=gen),
        ["a red circle", "a blue square"][:n],
        [f"k{i}" for i in range(n)],
    )


def _write_clip_tokenizer(folder: Path) -> None:
    """A working CLIP BPE tokenizer over single letters (54 entries)."""
    folder.mkdir(parents=True)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))


def _published_layout(root: Path) -> tuple[Path, Path]:
    """Tiny stand-ins of ``stabilityai/stable-cascade-prior`` and ``stabilityai/stable-cascade`` on disk."""
    from diffusers import DDPMWuerstchenScheduler, StableCascadeUNet
    from diffusers.pipelines.stable_cascade.pipeline_stable_cascade import PaellaVQModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    prior, decoder = root / "prior", root / "decoder"
    StableCascadeUNet(**tiny_stage_c_config(32, TEXT_WIDTH, 16)).save_pretrained(prior / "prior_lite")
    text_config = CLIPTextConfig(
        vocab_size=64,
        hidden_size=TEXT_WIDTH,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        projection_dim=TEXT_WIDTH,
        bos_token_id=52,
        eos_token_id=53,
        pad_token_id=53,
    )
    CLIPTextModelWithProjection(text_config).save_pretrained(prior / "text_encoder")
    _write_clip_tokenizer(prior / "tokenizer")
    stages, features = architecture("tiny")
    save_stability_encoder(
        EfficientNetEncoder(stages=stages, feature_channels=features), decoder / "effnet.safetensors"
    )
    StableCascadeUNet(
        in_channels=4,
        out_channels=4,
        patch_size=2,
        conditioning_dim=16,
        block_out_channels=[16, 32],
        num_attention_heads=[0, 2],
        down_num_layers_per_block=[1, 1],
        up_num_layers_per_block=[1, 1],
        down_blocks_repeat_mappers=[1, 1],
        up_blocks_repeat_mappers=[1, 1],
        block_types_per_layer=[
            ["SDCascadeResBlock", "SDCascadeTimestepBlock"],
            ["SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock"],
        ],
        clip_text_pooled_in_channels=TEXT_WIDTH,
        effnet_in_channels=16,
        pixel_mapper_in_channels=3,
        dropout=[0.0, 0.0],
        timestep_conditioning_type=["sca"],
    ).save_pretrained(decoder / "decoder_lite")
    PaellaVQModel(embed_dim=16, bottleneck_blocks=1, num_vq_embeddings=32).save_pretrained(decoder / "vqgan")
    DDPMWuerstchenScheduler().save_pretrained(decoder / "scheduler")
    return prior, decoder


def test_tiny_preset_trains_stage_c_and_the_control_module(tiny: StableCascadeControl) -> None:
    trainable = {id(p) for p in tiny.trainable_parameters()}
    assert all(id(p) in trainable for p in tiny.stage_c.parameters())
    assert all(id(p) in trainable for p in tiny.control.parameters())
    assert not any(id(p) in trainable for p in [*tiny.text_encoder.parameters(), *tiny.codec.parameters()])
    assert tiny.codec.latent_side(64) == 4 and tiny.control.config.control_blocks == [0, 1, 2, 3, 4, 5]
    assert not tiny.control.config.frozen_norm  # a random hint encoder needs its BatchNorms' batch statistics


def test_full_preset_loads_published_layouts_trains_only_the_control_and_decodes(tmp_path: Path) -> None:
    prior, decoder = _published_layout(tmp_path)
    settings = {"pretrained": str(prior), "decoder": str(decoder), "encoder_file": "effnet.safetensors"}
    full = create_backbone("cascade", "full", 128, {**settings, **TINY_AS_FULL})
    assert full.codec.latent_side(128) == 3  # ceil(128 / 42.67), as the prior pipeline sizes it
    encoder = full.codec.encoder
    assert torch.equal(full.control.backbone[0][0].weight[:, 1:4], encoder.backbone[0][0].weight)
    assert full.control.config.frozen_norm
    trainable = {id(p) for p in full.trainable_parameters()}
    assert trainable == {id(p) for p in full.control.parameters()}
    full.train()
    assert not full.codec.encoder.mapper[1].training  # the parameter-free BatchNorm keeps its statistics
    loss, logs = full.training_loss(_batch(size=128))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is None for p in full.stage_c.parameters())
    assert any(p.grad is not None and p.grad.any() for p in full.control.parameters())
    full.eval()
    images = full.sample(torch.rand(1, 5, 128, 128), ["a red circle"], steps=2, guidance=2.0, generator=_gen())
    assert images.shape == (1, 3, 128, 128) and 0 <= float(images.min()) <= float(images.max()) <= 1
    assert next(full.codec.load_decoder().decoder.parameters()).device.type == "cpu"


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_missing_weights_offline_fail_at_once_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, network_attempts: list[object]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        create_backbone("cascade", "full", 512, {"pretrained": "nobody-here/no-such-model"})
    message = str(info.value)
    assert "huggingface-cli download nobody-here/no-such-model" in message and "stage C" in message
    assert "HF_HUB_OFFLINE" in message and "\n" not in message
    assert network_attempts == []  # nothing was downloaded, nor even asked of the Hub


def test_float16_is_refused_in_one_sentence(tiny: StableCascadeControl) -> None:
    with pytest.raises(UserError, match="overflows in float16"):
        create_backbone("cascade", "full", 512, {"weight_dtype": "float16"})
    with pytest.raises(UserError, match="overflows in float16"):
        with torch.autocast("cpu", dtype=torch.float16):
            tiny.training_loss(_batch())


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="ResBlock indices in 0..5"):
        create_backbone("cascade", "tiny", 64, {"control_blocks": [0, 9]})
    with pytest.raises(UserError, match="loss_weight"):
        create_backbone("cascade", "tiny", 64, {"loss_weight": "snr"})
    with pytest.raises(UserError, match="not divisible by 16"):
        create_backbone("cascade", "tiny", 40)


def test_text_embeddings_are_cached_per_caption(tiny: StableCascadeControl) -> None:
    calls = []
    handle = tiny.text_encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        tiny._text_cache.clear()
        seq, pooled = tiny.encode_text(["a red circle", "a blue square", "a red circle"])
        tiny.encode_text(["a blue square"])
    finally:
        handle.remove()
    assert calls == [1, 1]  # each new caption encoded once, alone (resumes stay exact); a hit never encodes
    assert seq.shape == (3, 77, 32) and pooled.shape == (3, 1, 32) and torch.equal(seq[0], seq[2])


def test_text_cache_evicts_least_recently_used_never_a_caption_in_use(
    tiny: StableCascadeControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny._text_cache.clear()
    tiny.encode_text(["", "a", "b"])
    monkeypatch.setattr(tiny._text_cache, "memory_bytes", tiny._text_cache._memory_used)  # room for 3 captions
    seq, _ = tiny.encode_text(["", "c", "d"])  # "" is the oldest entry but is used again: "a" and "b" go
    assert seq.shape[0] == 3 and list(tiny._text_cache._memory) == ["", "c", "d"]


def test_adaptive_loss_weight_state_travels_with_the_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = create_backbone("cascade", "tiny", 64, {"loss_weight": "adaptive"})
    for _ in range(3):
        trained.training_loss(_batch())
    assert not torch.equal(trained.loss_weighting.bucket_losses, torch.ones(300))
    trained.save_trainable(tmp_path / "control")
    fresh = create_backbone("cascade", "tiny", 64, {"loss_weight": "adaptive"})
    fresh.load_trainable(tmp_path / "control")
    assert torch.equal(fresh.loss_weighting.bucket_losses, trained.loss_weighting.bucket_losses)


@pytest.mark.slow
def test_plan_full_preset_without_download_fits_an_a10_at_batch_8() -> None:
    from bench.config import resolve_config
    from bench.plan import make_plan

    plan = make_plan(resolve_config("cascade", "full"), measure=False)
    assert 1.75e9 < plan.parameters_total < 1.85e9  # stage C lite 1.03B + CLIP-G 0.69B + EfficientNets + control
    assert 4.5e7 < plan.parameters_trainable < 5.5e7
    assert plan.memory_bytes(8) < 24 * 2**30


def test_target_latents_are_encoded_in_float32_under_bf16_autocast() -> None:
    backbone = create_backbone("cascade", "tiny", 64, {"weight_dtype": "bfloat16"})
    assert all(p.dtype == torch.float32 for p in backbone.codec.parameters())  # frozen, but not cast
    assert next(backbone.text_encoder.parameters()).dtype == torch.bfloat16
    pixels = _batch().pixels
    exact = backbone.codec.encode(pixels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(backbone.codec.encode(pixels), exact)
    stages, features = architecture("tiny")
    effnet = EffnetStageBA(EfficientNetEncoder(stages=stages, feature_channels=features).eval())
    image = torch.rand(1, 3, 128, 128) * 2 - 1
    exact = effnet.encode(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        latents = effnet.encode(image)
    assert latents.dtype == torch.float32 and torch.equal(latents, exact)


def test_stage_c_latent_side_is_a_setting_that_keeps_12_at_512_px() -> None:
    stages, features = architecture("tiny")
    encoder = EfficientNetEncoder(stages=stages, feature_channels=features)
    assert EffnetStageBA(encoder).latent_side(512) == 12  # the benchmark's default: the prior pipeline's sizing
    assert EffnetStageBA(encoder, latent_side=24).latent_side(512) == 24  # what stage C was trained on
    assert CascadeConfig(preset="full", latent_side=24).latent_side == 24
    with pytest.raises(UserError, match="latent_side"):
        create_backbone("cascade", "tiny", 64, {"latent_side": 8})


def test_full_cascade_samples_at_its_makers_guidance_unless_told() -> None:
    from bench.config import resolve_config

    assert resolve_config("cascade", "full").eval.guidance == 4.0  # diffusers' Stable Cascade prior default
    assert resolve_config("sd", "full").eval.guidance == 7.5
    assert resolve_config("cascade", "full", overrides=["eval.guidance=6"]).eval.guidance == 6.0
