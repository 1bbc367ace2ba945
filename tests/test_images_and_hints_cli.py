"""Robust image reading and `bench hints`: odd files give a correct result or one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bench.cli import app
from bench.core.errors import UserError
from bench.core.images import read_rgb, read_rgba, resize_center_crop, to_rgb
from hints import load_user_hint

runner = CliRunner()


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    made = {}

    def save(name: str, image: Image.Image, **kw) -> None:
        made[name] = tmp_path / name
        image.save(made[name], **kw)

    rgb = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    save("rgb.png", Image.fromarray(rgb))
    save("gray.png", Image.fromarray(rgb[:, :, 0]))
    save("one.png", Image.fromarray(rgb[:1, :1]))
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[10:20, 10:30] = (255, 0, 0, 255)
    save("rgba.png", Image.fromarray(rgba))
    save("g16.png", Image.fromarray((np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)))
    save("palette.png", Image.fromarray(rgb).convert("P"))
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    save("rotated.jpg", Image.fromarray(rgb), exif=exif)
    (tmp_path / "text.png").write_text("<html>not an image</html>")
    made["text.png"] = tmp_path / "text.png"
    data = made["rgb.png"].read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    made["truncated.png"] = tmp_path / "truncated.png"
    return made


def test_conversions(files: dict[str, Path]) -> None:
    for name in ("rgb.png", "gray.png", "g16.png", "palette.png", "cmyk.jpg"):
        image = read_rgb(files[name])
        assert image.shape == (40, 60, 3) and image.dtype == np.uint8, name
    assert read_rgb(files["g16.png"]).max() > 200  # 16-bit scaled down, not clipped
    assert read_rgb(files["rotated.jpg"]).shape == (60, 40, 3)  # EXIF orientation applied
    on_white = read_rgb(files["rgba.png"])
    assert tuple(on_white[0, 0]) == (255, 255, 255) and tuple(on_white[15, 15]) == (255, 0, 0)
    assert to_rgb(np.ones((2, 2), np.float32)).tolist() == [[[255] * 3] * 2] * 2


@pytest.mark.parametrize(("name", "needle"), [("text.png", "not an image"), ("truncated.png", "truncated")])
def test_bad_files(files: dict[str, Path], name: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        read_rgb(files[name])


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        read_rgb(tmp_path / "nope.png")
    with pytest.raises(UserError, match="directory"):
        read_rgb(tmp_path)


def test_resize_center_crop() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 20:60] = 255
    out = resize_center_crop(image, 20)
    assert out.shape == (20, 20, 3) and out.min() == 255  # the white middle survives the crop
    assert resize_center_crop(np.zeros((3, 3, 4), np.uint8), 16, nearest=True).shape == (16, 16, 4)


def test_user_hint_keeps_exact_stroke_colors(files: dict[str, Path]) -> None:
    hint = load_user_hint(files["rgb.png"], files["rgba.png"], 32)
    assert hint.shape == (5, 32, 32) and hint.dtype == np.float32
    alpha = hint[4] > 0
    assert alpha.any() and np.allclose(hint[1:4][:, alpha].T, [1.0, 0.0, 0.0])
    assert np.all(hint[1:4][:, ~alpha] == 0)
    with pytest.raises(UserError, match="alpha"):
        load_user_hint(files["rgb.png"], files["rgb.png"], 32)
    assert read_rgba(files["rgba.png"]).shape == (40, 60, 4)
    with pytest.raises(UserError, match="different shapes"):
        load_user_hint(np.zeros((60, 40, 3), np.uint8), read_rgba(files["rgba.png"]), 32)


def test_user_hint_keeps_thin_strokes_of_a_large_drawing() -> None:
    """A 1-px pen stroke on a 512 px drawing survives the shrink to 64 px with its exact color; an area that
    holds two colors takes their mean; an area with no stroke stays empty."""
    strokes = np.zeros((512, 512, 4), np.uint8)
    strokes[100, 40:400] = (10, 200, 30, 255)  # a horizontal pen line, one pixel thick
    strokes[296:304, 296] = (200, 0, 0, 255)  # two colors in one 8 x 8 area: red and blue
    strokes[296:304, 297] = (0, 0, 200, 255)
    hint = load_user_hint(np.full((512, 512, 3), 255, np.uint8), strokes, 64)
    line = hint[:, 100 // 8, 40 // 8 : 400 // 8]
    assert np.all(line[4] == 1.0)
    assert np.allclose(line[1:4].T, np.array([10, 200, 30]) / 255, atol=1e-5)
    assert np.allclose(hint[1:4, 296 // 8, 296 // 8], np.array([100, 0, 100]) / 255, atol=1e-5)
    assert hint[4].sum() == len(range(40 // 8, 400 // 8)) + 1
    assert np.all(hint[1:4][:, hint[4] == 0] == 0)


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "one.png", "rgba.png", "g16.png"])
def test_bench_hints_writes_a_picture(files: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / f"out-{name}"
    result = runner.invoke(app, ["hints", str(files[name]), "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size[0] > 256


def test_bench_hints_on_a_builtin_photo(tmp_path: Path) -> None:
    out = tmp_path / "astronaut.png"
    result = runner.invoke(app, ["hints", "builtin:photos/astronaut", "--out", str(out), "--resolution", "128"])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_bench_hints_writes_files_bench_sample_reads(tmp_path: Path) -> None:
    """A built-in eval drawing exported as line drawing + RGBA strokes comes back as the same strokes."""
    from bench.data.sources import load_example
    from hints import HintConfig, make_hint

    lineart, strokes = tmp_path / "lineart.png", tmp_path / "strokes.png"
    args = ["hints", "builtin:shapes/eval/3", "--seed", "5", "--out", str(tmp_path / "h.png")]
    result = runner.invoke(app, [*args, "--lineart-out", str(lineart), "--strokes-out", str(strokes)])
    assert result.exit_code == 0, result.output
    expected = make_hint(load_example("builtin:shapes/eval/3").image, 5, HintConfig())
    drawing, rgba = read_rgb(lineart), read_rgba(strokes)
    assert drawing.shape[:2] == rgba.shape[:2] == expected.shape[1:]
    assert np.array_equal(drawing[..., 0] < 128, expected[0] > 0.5)  # edges drawn dark on white
    user = load_user_hint(lineart, strokes, expected.shape[1])
    assert np.array_equal(user[4] > 0, expected[4] > 0)
    solid = expected[4] == 1.0
    assert solid.any() and np.abs(user[1:4][:, solid] - expected[1:4][:, solid]).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.png"], "not found"),
        (["RGB", "--strokes-out", "s.jpg"], "PNG"),
        (["TEXT"], "not an image"),
        (["RGB", "--set", "hints.blur_prob=2"], "blur_prob"),
        (["RGB", "--set", "hints.nope=1"], "hints.nope"),
        (["RGB", "--out", "x.jpg"], "PNG"),
        (["builtin:photos/none"], "unknown item"),
    ],
)
def test_bench_hints_bad_input_is_one_line(files: dict[str, Path], tmp_path: Path, args: list[str], needle: str):
    args = [str(files["text.png"]) if a == "TEXT" else str(files["rgb.png"]) if a == "RGB" else a for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "o.png")]
    result = runner.invoke(app, ["hints", *args])
    assert result.exit_code == 2
    assert needle in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_benchmark_hints_prints_a_ratio() -> None:
    result = runner.invoke(app, ["benchmark", "hints", "--resolution", "64", "--repeats", "3"])
    assert result.exit_code == 0, result.output
    assert "speed-up" in result.output and "whole hint" in result.output
