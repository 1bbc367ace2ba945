"""Where the standard metric weights are found, and the one sentence said when they are not.

LPIPS and FID/KID are only comparable with the published networks, and this project never downloads at eval
time, so each weights file is looked up, in order, in ``--weights-dir``, in ``$STROKEBENCH_WEIGHTS_DIR`` and in
torch's hub cache (``$TORCH_HOME/hub/checkpoints``, where torchvision and torch-fidelity put their downloads).
A metric whose file is missing is *unavailable*: its rows say why in one sentence and carry no number; a number
from random or substituted weights is never reported under the metric's name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: environment variable naming a folder of local weight files
WEIGHTS_ENV = "STROKEBENCH_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightsFile:
    """A published weights file a metric needs: its file name, what it is, and where it is published."""

    filename: str
    what: str
    url: str


#: torchvision's ImageNet AlexNet, the LPIPS v0.1 backbone (the linear heads ship inside the lpips package)
ALEXNET = WeightsFile(
    "alexnet-owt-7be5be79.pth",
    "the AlexNet weights of LPIPS",
    "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
)
#: the TensorFlow FID Inception-v3 converted to PyTorch by torch-fidelity (the weights every FID is computed with)
INCEPTION = WeightsFile(
    "pt_inception-2015-12-05-6726825d.pth",
    "the FID Inception weights",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
)


@dataclass(frozen=True)
class Unavailable:
    """A metric that cannot be computed here, and the sentence that says why and how to fix it."""

    reason: str


def hub_checkpoints_dir() -> Path:
    """torch's hub cache of downloaded checkpoints (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(weights_dir: Path | None) -> list[Path]:
    """The folders searched for weight files, in order."""
    dirs = [weights_dir] if weights_dir is not None else []
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]))
    dirs.append(hub_checkpoints_dir())
    return dirs


def locate(weights: WeightsFile, weights_dir: Path | None) -> Path | Unavailable:
    """The local copy of ``weights``, or an `Unavailable` naming the file and where to put it."""
    for folder in search_dirs(weights_dir):
        candidate = folder / weights.filename
        if candidate.is_file():
            return candidate
    return Unavailable(
        f"{weights.what} ({weights.filename}, published at {weights.url}) were not found; put a copy in a folder "
        f"passed as --weights-dir or named by ${WEIGHTS_ENV}, or in torch's hub cache ($TORCH_HOME/hub/checkpoints, "
        "by default ~/.cache/torch/hub/checkpoints)"
    )
