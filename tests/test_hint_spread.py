"""The stroke-colour spread channels: shapes, the colours they carry, and the setting's checks."""

from __future__ import annotations

import pytest
import torch

from backbones import create_backbone
from backbones.hint_spread import hint_channels, spread_hint
from bench.core.errors import UserError
from hints import NUM_CHANNELS


def _hint_with_stroke(colour: tuple[float, float, float], alpha: float = 1.0) -> torch.Tensor:
    """A 1 x 5 x 8 x 8 hint with one stroke pixel at (1, 1) in the top-left 4 x 4 quarter."""
    hint = torch.zeros(1, 5, 8, 8)
    hint[0, 1:4, 1, 1] = torch.tensor(colour) * alpha
    hint[0, 4, 1, 1] = alpha
    return hint


def test_no_grids_leave_the_hint_unchanged() -> None:
    hint = torch.rand(2, 5, 8, 8)
    assert spread_hint(hint, ()) is hint
    assert hint_channels(()) == NUM_CHANNELS


def test_each_grid_adds_colour_and_coverage_at_the_hint_size() -> None:
    out = spread_hint(torch.rand(2, 5, 16, 16), (16, 4, 1))
    assert out.shape == (2, hint_channels((16, 4, 1)), 16, 16) == (2, 17, 16, 16)


def test_a_cell_carries_its_strokes_colour_without_premultiplication() -> None:
    colour = (0.8, 0.2, 0.4)
    out = spread_hint(_hint_with_stroke(colour, alpha=0.5), (2,))
    cell_colour, coverage = out[0, 5:8], out[0, 8]
    # the stroke's quarter (top-left 4 x 4) carries the colour everywhere; the other quarters are empty
    assert torch.allclose(cell_colour[:, :4, :4], torch.tensor(colour)[:, None, None].expand(3, 4, 4))
    assert coverage[:4, :4].eq(1).all() and coverage[4:].eq(0).all() and coverage[:, 4:].eq(0).all()
    assert cell_colour[:, 4:].eq(0).all() and cell_colour[:, :, 4:].eq(0).all()


def test_a_cell_mixes_strokes_by_alpha() -> None:
    hint = torch.zeros(1, 5, 4, 4)
    hint[0, 1:4, 0, 0], hint[0, 4, 0, 0] = torch.tensor([1.0, 0.0, 0.0]), 1.0  # red, opaque
    hint[0, 1:4, 3, 3], hint[0, 4, 3, 3] = torch.tensor([0.0, 0.0, 0.5]), 0.5  # blue at half alpha
    colour = spread_hint(hint, (1,))[0, 5:8, 0, 0]
    assert torch.allclose(colour, torch.tensor([1.0, 0.0, 0.5]) / 1.5)


def test_the_model_reads_the_spread_channels() -> None:
    model = create_backbone("sd", "tiny", 64, {"hint_spread_grids": [8, 1]})
    assert model.controlnet.config.conditioning_channels == 13


@pytest.mark.parametrize(
    ("grids", "message"),
    [([0], "must hold positive integers"), ([4, -1], "must hold positive integers"), ([2.5], "expected an integer")],
)
def test_bad_grids_are_one_sentence(grids: list, message: str) -> None:
    with pytest.raises(UserError, match=f"model.hint_spread_grids.*{message}"):
        create_backbone("sd", "tiny", 64, {"hint_spread_grids": grids})
