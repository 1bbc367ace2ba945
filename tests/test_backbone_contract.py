"""The contract every registered backbone keeps, checked on its tiny preset at 64 px.

The training loop, eval and report rely on exactly these properties and nothing backbone-specific: a finite
scalar loss; gradients only where `trainable_parameters` says (the rest frozen and untouched by an optimizer
step); samples of the right shape in [0, 1]; a save/load round trip that reproduces the outputs; determinism
under a seed.
"""

from __future__ import annotations

import pytest
import torch

from backbones import backbone_names, create_backbone
from backbones.base import Batch

RESOLUTION = 64


def _batch(n: int = 2) -> Batch:
    gen = torch.Generator().manual_seed(0)
    hint = torch.rand(n, 5, RESOLUTION, RESOLUTION, generator=gen)
    hint[:, 4] = (hint[:, 4] > 0.8).float()
    return Batch(
        pixels=torch.rand(n, 3, RESOLUTION, RESOLUTION, generator=gen) * 2 - 1,
        hint=hint,
        captions=["a red circle over a blue square on a yellow background", ""][:n] * (n // 2 or 1),
        keys=[f"test/{i}" for i in range(n)],
    )


def _sample(backbone, batch: Batch, seed: int = 0) -> torch.Tensor:
    backbone.eval()
    return backbone.sample(
        batch.hint, batch.captions, steps=2, guidance=2.0, generator=torch.Generator().manual_seed(seed)
    )


@pytest.fixture(scope="module", params=backbone_names())
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def trained(name: str):
    """A tiny backbone after one optimizer step, and the parameter values from before that step."""
    torch.manual_seed(0)
    backbone = create_backbone(name, "tiny", RESOLUTION)
    backbone.train()
    before = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    trainable = {id(p) for p in backbone.trainable_parameters()}
    optimizer = torch.optim.AdamW(list(backbone.trainable_parameters()), lr=1e-3)
    loss, logs = backbone.training_loss(_batch())
    loss.backward()
    grads = {n: p.grad is not None for n, p in backbone.named_parameters()}
    optimizer.step()
    return backbone, before, trainable, float(loss.detach()), logs, grads


def test_loss_is_finite_scalar_with_loggable_values(trained) -> None:
    _, _, _, loss, logs, _ = trained
    assert torch.isfinite(torch.tensor(loss))
    for key, value in logs.items():
        assert torch.as_tensor(value).numel() == 1, key
        assert torch.isfinite(torch.as_tensor(value)), key


def test_gradients_only_on_trainable_and_frozen_weights_unchanged(trained) -> None:
    backbone, before, trainable, _, _, grads = trained
    params = dict(backbone.named_parameters())
    assert trainable, "a backbone must train something"
    changed = 0
    for name, param in params.items():
        if id(param) in trainable:
            changed += int(not torch.equal(param.detach(), before[name]))
        else:
            assert not param.requires_grad, f"{name} is frozen but requires grad"
            assert not grads[name], f"{name} is frozen but received a gradient"
            assert torch.equal(param.detach(), before[name]), f"{name} is frozen but changed"
    assert changed > 0, "an optimizer step changed no trainable weight"


def test_sample_shape_range_and_determinism(trained) -> None:
    backbone = trained[0]
    batch = _batch()
    first, again = _sample(backbone, batch, seed=3), _sample(backbone, batch, seed=3)
    assert first.shape == (2, 3, RESOLUTION, RESOLUTION)
    assert first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, again)
    assert not torch.equal(first, _sample(backbone, batch, seed=4))


def test_save_load_round_trip_reproduces_outputs(trained, name: str, tmp_path) -> None:
    backbone = trained[0]
    backbone.save_trainable(tmp_path / "control")
    fresh = create_backbone(name, "tiny", RESOLUTION)
    fresh.load_trainable(tmp_path / "control")
    batch = _batch()
    assert torch.equal(_sample(backbone, batch), _sample(fresh, batch))
    saved = list((tmp_path / "control").rglob("*"))
    assert any(p.suffix == ".safetensors" for p in saved)
    assert not any(p.suffix in (".bin", ".pt", ".pth", ".ckpt") for p in saved), "weights must be safetensors"


def test_a_frozen_base_has_no_module_in_training_mode(name: str) -> None:
    backbone = create_backbone(name, "tiny", RESOLUTION)
    backbone.config.train_base = False  # the full presets' split: only the control module trains
    backbone.train()
    trainable = {id(p) for p in backbone.trainable_parameters()}
    frozen = [m for m in backbone.modules() if any(True for _ in m.parameters()) and trainable.isdisjoint(
        id(p) for p in m.parameters())]  # fmt: skip
    assert frozen, "a frozen base"
    training = [type(sub).__name__ for module in frozen for sub in module.modules() if sub.training]
    assert training == [], f"frozen modules left in training mode (dropout would stay active): {training[:5]}"
    assert any(m.training for m in backbone.modules() if trainable & {id(p) for p in m.parameters(recurse=False)})
