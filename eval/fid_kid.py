"""FID and KID between outputs and the eval targets, from one pass of Inception features.

Features: torchmetrics' ``NoTrainInceptionV3`` (torch-fidelity's port of the TensorFlow FID network) with the
weights from a local file (`eval.weights.INCEPTION`), fed uint8 images and resized to 299 px the way
torch-fidelity and the original TensorFlow code do (bilinear, no antialiasing). Tests inject a small network
instead (`FeatureStats(extractor)`); such numbers are never reported as FID.

FID is computed from the two Gaussians' statistics; the trace of the matrix square root comes from the
eigenvalues of a symmetric matrix of size min(n, d) (exact, and fast for the small n of an eval split). KID is
the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets
as torchmetrics does. FID is biased at small n: always read it with n and with KID beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from eval.weights import INCEPTION, Unavailable, locate

#: images -> features: uint8 ``B x 3 x H x W`` tensor -> ``B x d`` float
Extractor = Callable[[torch.Tensor], torch.Tensor]


class FeatureStats:
    """Extract features of uint8 ``N x H x W x 3`` images in batches through ``extractor`` (float64 out)."""

    def __init__(self, extractor: Extractor, batch_size: int = 32) -> None:
        self.extractor = extractor
        self.batch_size = batch_size

    @torch.no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            chunks.append(self.extractor(batch.permute(0, 3, 1, 2).contiguous()).reshape(len(batch), -1).double())
        return torch.cat(chunks).numpy()


class ReferenceStats:
    """The target side of FID, computed once per eval set: features, mean, covariance and its square root."""

    def __init__(self, features: np.ndarray) -> None:
        self.features = features
        self.mean = features.mean(axis=0)
        self.cov = np.cov(features, rowvar=False) if len(features) > 1 else np.zeros((features.shape[1],) * 2)
        values, vectors = np.linalg.eigh(self.cov)
        self.cov_sqrt = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(reference: ReferenceStats, features: np.ndarray) -> float:
    """FID of generated ``features`` (n x d) against the reference Gaussian.

    Tr sqrt(C_r C_g) equals the sum of square roots of the eigenvalues of S C_g S with S = sqrt(C_r); with
    C_g = X'X / (n - 1) for centred X, those nonzero eigenvalues are the ones of X S S X' / (n - 1) = X C_r X'
    / (n - 1), an n x n symmetric matrix, used when n < d.
    """
    n, dim = features.shape
    if n < 2:
        return float("nan")
    mean = features.mean(axis=0)
    centred = features - mean
    if n < dim:
        inner = centred @ reference.cov @ centred.T / (n - 1)
        trace_gen = float((centred**2).sum() / (n - 1))
    else:
        cov = centred.T @ centred / (n - 1)
        inner = reference.cov_sqrt @ cov @ reference.cov_sqrt
        trace_gen = float(np.trace(cov))
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    return float(((mean - reference.mean) ** 2).sum() + trace_gen + np.trace(reference.cov) - 2 * trace_sqrt)


def _mmd2_unbiased(real: np.ndarray, fake: np.ndarray) -> float:
    dim = real.shape[1]
    k_rr = (real @ real.T / dim + 1) ** 3
    k_ff = (fake @ fake.T / dim + 1) ** 3
    k_rf = (real @ fake.T / dim + 1) ** 3
    m = len(real)
    within = (k_rr.sum() - np.trace(k_rr) + k_ff.sum() - np.trace(k_ff)) / (m * (m - 1))
    return float(within - 2 * k_rf.mean())


def kernel_inception_distance(
    real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> float:
    """KID: mean unbiased MMD² over ``subsets`` random subsets of ``min(subset_size, n_real, n_fake)`` items."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        return float("nan")
    if size == len(real) == len(fake):
        return _mmd2_unbiased(real, fake)  # every subset is the whole of both sets
    rng = np.random.default_rng(seed)
    values = [
        _mmd2_unbiased(
            real[rng.choice(len(real), size, replace=False)], fake[rng.choice(len(fake), size, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values))


def load_inception(weights_dir: Path | None) -> FeatureStats | Unavailable:
    """The FID Inception network from local files, or `Unavailable` (never a download)."""
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return Unavailable(
            "FID and KID are unavailable: they need the torch-fidelity package (pip install torch-fidelity)"
        )
    found = locate(INCEPTION, weights_dir)
    if isinstance(found, Unavailable):
        return Unavailable(f"FID and KID are unavailable: {found.reason}")
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        network = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=["2048"],
            feature_extractor_weights_path=str(found),
            antialias=False,
        )
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        return Unavailable(f"FID and KID are unavailable: {found} could not be loaded ({exc}); replace it")
    return FeatureStats(lambda images: network(images))
