"""LPIPS, FID and KID: the metric code with injected small networks, and the offline rules.

No test downloads anything: torch's hub download functions are replaced by ones that fail, the hub cache points
at an empty folder, and the published weights are stood in for by small files or injected networks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from eval.fid_kid import FeatureStats, ReferenceStats, frechet_distance, kernel_inception_distance, load_inception
from eval.lpips_metric import LpipsMetric, load_lpips
from eval.weights import ALEXNET, INCEPTION, WEIGHTS_ENV, Unavailable, locate


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("a metric tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


class TinyFeatures(torch.nn.Module):
    """uint8 images -> 6 features (pooled colour statistics): a stand-in for Inception."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1).double()


def _images(seed: int, n: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_missing_weights_are_unavailable_with_one_sentence_naming_the_file(tmp_path: Path) -> None:
    lpips = load_lpips(tmp_path / "empty")
    assert isinstance(lpips, Unavailable)
    assert ALEXNET.filename in lpips.reason and "--weights-dir" in lpips.reason and WEIGHTS_ENV in lpips.reason
    assert lpips.reason.count(". ") == 0 and "\n" not in lpips.reason
    inception = load_inception(tmp_path / "empty")
    assert isinstance(inception, Unavailable) and INCEPTION.filename in inception.reason


def test_fid_without_torch_fidelity_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)
    found = load_inception(None)
    assert isinstance(found, Unavailable) and "pip install torch-fidelity" in found.reason


def test_weights_are_found_in_the_flag_the_environment_and_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("flag", "env", "torch-home/hub/checkpoints"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / ALEXNET.filename).write_bytes(b"x")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env"))
    assert locate(ALEXNET, tmp_path / "flag") == tmp_path / "flag" / ALEXNET.filename
    assert locate(ALEXNET, None) == tmp_path / "env" / ALEXNET.filename
    monkeypatch.delenv(WEIGHTS_ENV)
    assert locate(ALEXNET, None) == tmp_path / "torch-home/hub/checkpoints" / ALEXNET.filename


def test_lpips_loads_a_local_alexnet_file_without_downloading(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, tmp_path / ALEXNET.filename)
    metric = load_lpips(tmp_path)
    assert isinstance(metric, LpipsMetric)
    trunk = metric.network.net
    assert torch.equal(trunk.slice1[0].weight, features["0.weight"])  # the file's weights, not random ones
    a, b = _images(0, 3, 32), _images(1, 3, 32)
    same, different = metric(a, a), metric(a, b)
    assert same.shape == (3,) and np.allclose(same, 0.0, atol=1e-6) and (different > 0).all()
    # a file that is not AlexNet is unavailable, not a crash
    torch.save({"something": torch.zeros(1)}, tmp_path / ALEXNET.filename)
    broken = load_lpips(tmp_path)
    assert isinstance(broken, Unavailable) and "could not be loaded" in broken.reason


def test_lpips_metric_batches_an_injected_network() -> None:
    calls = []

    def distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        assert x.min() >= -1 and x.max() <= 1
        return (x - y).abs().mean(dim=(1, 2, 3))

    metric = LpipsMetric(torch.nn.Module(), batch_size=2)
    metric.network = distance  # type: ignore[assignment]
    a, b = _images(0, 5), _images(1, 5)
    values = metric(a, b)
    assert calls == [2, 2, 1] and values.shape == (5,)
    assert np.allclose(metric(a, a), 0.0)


@pytest.mark.parametrize("n_fake", [4, 40])  # fewer items than features (n x n path) and more (d x d path)
def test_fid_matches_torchmetrics_with_the_same_feature_network(n_fake: int) -> None:
    extractor = TinyFeatures()
    real, fake = _images(0, 30), _images(1, n_fake)
    stats = FeatureStats(extractor, batch_size=7)
    ours = frechet_distance(ReferenceStats(stats.features(real)), stats.features(fake))
    reference = FrechetInceptionDistance(feature=extractor, normalize=False)
    reference.update(torch.from_numpy(real).permute(0, 3, 1, 2), real=True)
    reference.update(torch.from_numpy(fake).permute(0, 3, 1, 2), real=False)
    assert ours == pytest.approx(float(reference.compute()), rel=1e-4, abs=1e-7)
    same = stats.features(real)
    assert frechet_distance(ReferenceStats(same), same) == pytest.approx(0.0, abs=1e-9)


def test_kid_matches_torchmetrics_on_whole_sets() -> None:
    extractor = TinyFeatures()
    real, fake = _images(2, 12), _images(3, 12)
    stats = FeatureStats(extractor)
    ours = kernel_inception_distance(stats.features(real), stats.features(fake), subsets=3, subset_size=12)
    reference = KernelInceptionDistance(feature=extractor, subsets=3, subset_size=12)
    reference.update(torch.from_numpy(real).permute(0, 3, 1, 2), real=True)
    reference.update(torch.from_numpy(fake).permute(0, 3, 1, 2), real=False)
    assert ours == pytest.approx(float(reference.compute()[0]), rel=1e-5)
    assert np.isnan(kernel_inception_distance(stats.features(real[:1]), stats.features(fake[:1])))
