"""`bench demo`: the page colors like `bench sample`, finds a `bench run`'s runs, refuses bad uploads in the page,
its server answers `gradio_client` on 127.0.0.1, and in headless Chromium a painted stroke gets colored.
Tiny fake-backbone runs, trained once for the session."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import struct
import time
import urllib.request
import zlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from conftest import fast_overrides
from PIL import Image
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.coloring import LoadedRun
from bench.core.errors import UserError
from bench.demo.lineart import CANVAS, UploadLimits, drawing_and_strokes, read_upload, uploaded_lineart
from bench.demo.page import PALETTE
from bench.demo.runs import benchmark_runs, choose_runs
from bench.demo.serve import Server

#: gradio's queue calls pandas APIs pandas 3 deprecates; not ours to fix
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason="bench demo needs the [demo] extra"),
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
runner = CliRunner()
FAST = fast_overrides("data.resolution=32", "optim.effective_batch=2", "budget.usd=1e-7", drop=("budget.mark_every",))
#: the runs a `bench run` with two seeds of "fake" and one (older layout) of "fake2" leaves
LAYOUT = (("fake", "fake/seed0"), ("fake", "fake/seed1"), ("fake2", "fake2"))


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A `bench run` folder of tiny runs; the fake backbones are registered while runs are trained and loaded."""
    from bench.config import resolve_config
    from bench.train import start_run, train_run

    out = tmp_path_factory.mktemp("demo") / "bench"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")
        patch.setitem(backbones._REGISTRY, "fake2", "fakes:FakeBackbone")
        for name, folder in LAYOUT:
            cfg = resolve_config(name, "tiny", overrides=FAST)
            train_run(cfg, start_run(cfg, out / folder), resume=False, quiet=True)
        yield out


@pytest.fixture(scope="session")
def demo_runs(demo_out: Path) -> list[LoadedRun]:
    from bench.demo.serve import load_runs

    return load_runs(benchmark_runs(demo_out), device="cpu")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def demo_server(demo_runs: list[LoadedRun]) -> Iterator[tuple[Server, Path]]:
    """The page served on 127.0.0.1 from this process, with its temporary folder."""
    from bench.demo.serve import start, temp_files

    with temp_files() as folder:
        server = start(demo_runs, port=_free_port(), limits=UploadLimits(max_bytes=2**20, max_pixels=1024 * 1024))
        yield server, folder
        server.close()
    assert not folder.exists()  # everything the page received went there, and is gone


def _drawing_and_strokes() -> tuple[np.ndarray, np.ndarray]:
    drawing = np.full((96, 96, 3), 255, np.uint8)
    drawing[20:76, 30:34] = 0
    drawing[60:64, 10:86] = 0
    strokes = np.zeros((96, 96, 4), np.uint8)
    strokes[30:40, 50:80] = (200, 30, 30, 255)
    strokes[70:90, 10:20] = (30, 60, 220, 255)
    return drawing, strokes


def test_page_colors_a_canvas_like_bench_sample(demo_runs: list[LoadedRun], tmp_path: Path) -> None:
    from bench.demo.page import color_canvas

    drawing, strokes = _drawing_and_strokes()
    empty_layer = np.zeros_like(strokes)
    value = {"background": np.dstack([drawing, np.full((96, 96), 255, np.uint8)]), "layers": [strokes, empty_layer]}
    result = color_canvas(demo_runs[0], value, "a red mark", seed=3, steps=2, guidance=1.0)
    assert result.image.shape == (32, 32, 3) and result.seconds >= 0
    Image.fromarray(drawing).save(tmp_path / "lineart.png")
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    args = ["sample", str(demo_runs[0].run.path), "--lineart", str(tmp_path / "lineart.png")]
    args += ["--strokes", str(tmp_path / "strokes.png"), "--prompt", "a red mark", "--seed", "3"]
    done = runner.invoke(app, [*args, "--steps", "2", "--guidance", "1", "--out", str(tmp_path / "cli.png")])
    assert done.exit_code == 0, done.output
    assert np.array_equal(result.image, np.asarray(Image.open(tmp_path / "cli.png")))
    other = color_canvas(demo_runs[0], value, "a red mark", seed=4, steps=2, guidance=1.0)
    assert not np.array_equal(result.image, other.image)  # the seed is the page's, not a fixed one


def test_strokes_come_from_the_layers_alpha() -> None:
    drawing, strokes = _drawing_and_strokes()
    top = np.zeros_like(strokes)
    top[30:35, 50:60] = (0, 200, 0, 255)  # painted over part of the red stroke
    lineart, found = drawing_and_strokes({"background": drawing, "layers": [strokes, top]})
    assert np.array_equal(lineart, drawing)
    assert np.array_equal(found[..., 3] > 0, strokes[..., 3] > 0)
    assert tuple(found[32, 55]) == (0, 200, 0, 255) and tuple(found[37, 55]) == (200, 30, 30, 255)
    with pytest.raises(UserError, match="no drawing"):
        drawing_and_strokes({"background": None, "layers": []})
    with pytest.raises(UserError, match="another size"):
        drawing_and_strokes({"background": drawing, "layers": [strokes[:50]]})


def test_runs_of_a_bench_run_folder_one_seed_per_backbone(demo_out: Path, tmp_path: Path) -> None:
    assert benchmark_runs(demo_out) == [demo_out / "fake" / "seed0", demo_out / "fake2"]
    assert benchmark_runs(demo_out, seed=1) == [demo_out / "fake" / "seed1", demo_out / "fake2"]
    with pytest.raises(UserError, match="no seed7/ run"):
        benchmark_runs(demo_out, seed=7)
    with pytest.raises(UserError, match="bench run"):
        benchmark_runs(tmp_path)
    assert choose_runs([demo_out / "fake2", demo_out / "fake2"], demo_out) == [demo_out / "fake2"]
    with pytest.raises(UserError, match="not a run directory"):
        choose_runs([tmp_path], demo_out)


def test_demo_command_refuses_in_one_line(demo_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "bench run" in result.output and len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["demo", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
    monkeypatch.setitem(backbones._REGISTRY, "fake2", "fakes:FakeBackbone")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = runner.invoke(app, ["demo", str(demo_out / "fake2"), "--port", port])
    assert result.exit_code == 2 and "pick another --port" in result.output, result.output


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels, with almost no data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + data + chunk(b"IEND", b"")


def bad_uploads(folder: Path) -> dict[str, tuple[Path, str]]:
    """Upload files the page must refuse, each with the words its message has."""
    (folder / "notes.png").write_text("not an image at all\n")
    Image.new("RGB", (1, 1), "white").save(folder / "dot.png")
    (folder / "bomb.png").write_bytes(_png_claiming(20000, 20000))
    return {
        "text": (folder / "notes.png", "not a PNG, JPEG or WebP"),
        "1x1": (folder / "dot.png", "1x1 pixels"),
        "bomb": (folder / "bomb.png", "more than"),
    }


def test_uploads_are_checked_before_decoding(tmp_path: Path) -> None:
    limits = UploadLimits(max_bytes=2**20, max_pixels=1024 * 1024)
    for path, words in bad_uploads(tmp_path).values():
        with pytest.raises(UserError, match=words):
            read_upload(path, limits)
    big = np.random.default_rng(0).integers(0, 255, (700, 700, 3), np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    with pytest.raises(UserError, match="at most 0.5 MB"):
        read_upload(tmp_path / "big.png", UploadLimits(max_bytes=2**19))
    drawing, _ = _drawing_and_strokes()
    for suffix in ("png", "jpg", "webp"):
        Image.fromarray(drawing[:, :80]).save(tmp_path / f"drawing.{suffix}")
        art = uploaded_lineart(tmp_path / f"drawing.{suffix}", False, 32, _hints(), limits)
        assert art.shape == (CANVAS, round(CANVAS * 80 / 96), 3)  # a drawing keeps its shape
    photo = uploaded_lineart(tmp_path / "drawing.png", True, 32, _hints(), limits)
    assert photo.shape == (CANVAS, CANVAS, 3) and set(np.unique(photo)) == {0, 255}  # a photo becomes its edges


def _hints():  # noqa: ANN202 - the run's hint settings
    from hints import HintConfig

    return HintConfig()


def test_server_on_localhost_answers_gradio_client(
    demo_server: tuple[Server, Path], demo_runs: list[LoadedRun], tmp_path: Path
) -> None:
    from gradio_client import Client, handle_file

    from bench.demo.page import color_canvas

    server, folder = demo_server
    assert server.url.startswith("http://127.0.0.1:")
    client = Client(server.url, download_files=str(tmp_path / "client"), verbose=False)
    value, caption, message = client.predict(2, api_name="/load_builtin")
    assert Path(value["background"]).is_file() and caption and message == ""
    for name, (path, words) in bad_uploads(tmp_path).items():
        _, message = client.predict(handle_file(str(path)), "line art", api_name="/load_upload")
        assert words in message and "Traceback" not in message, name
    drawing, strokes = _drawing_and_strokes()
    Image.fromarray(drawing).save(tmp_path / "drawing.png")
    loaded, message = client.predict(handle_file(str(tmp_path / "drawing.png")), "line art", api_name="/load_upload")
    assert message == "" and np.asarray(Image.open(loaded["background"])).shape[:2] == (CANVAS, CANVAS)
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    canvas = {
        "background": handle_file(str(tmp_path / "drawing.png")),
        "layers": [handle_file(str(tmp_path / "strokes.png"))],
    }
    image, hint, seconds = client.predict(canvas, "a red mark", 3, 2, 1.0, api_name="/color_0")
    assert "colored in" in seconds and np.asarray(Image.open(hint)).shape == (32, 32, 3)
    image_2, seconds_2 = client.predict(canvas, "a red mark", 3, 2, 1.0, api_name="/color_1")
    assert np.asarray(Image.open(image_2)).shape == (32, 32, 3)
    expected = color_canvas(demo_runs[0], {"background": drawing, "layers": [strokes]}, "a red mark", 3, 2, 1.0)
    assert np.array_equal(np.asarray(Image.open(image)), expected.image)
    assert any(folder.rglob("*.png"))  # what the page received and sent is in its temporary folder
    client.close()


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _browser(profile: Path):  # noqa: ANN202 - a selenium WebDriver
    """Debian's headless Chromium under selenium, or a skip that says why there is none."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        reason = "selenium is not installed (pip install -e '.[demo]')"
    else:
        missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file() and not shutil.which(Path(p).name)]
        if not missing:
            options = webdriver.ChromeOptions()
            options.binary_location = CHROMIUM
            for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"):
                options.add_argument(arg)
            options.add_argument(f"--user-data-dir={profile}")
            return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        reason = f"no browser: {', '.join(missing)} missing (apt-get install -y chromium chromium-driver)"
    print(f"skipping the browser test: {reason}")
    pytest.skip(reason)


def _image(url: str) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=30) as response:  # the page's own server on 127.0.0.1
        return np.asarray(Image.open(BytesIO(response.read())).convert("RGB"))


@pytest.mark.slow
def test_paint_a_stroke_and_color_in_chromium(demo_server: tuple[Server, Path], tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server, _ = demo_server
    browser = _browser(tmp_path / "profile")
    try:
        browser.get(server.url)
        canvas = WebDriverWait(browser, 60).until(lambda b: b.find_element(By.CSS_SELECTOR, "#canvas canvas"))
        time.sleep(1)  # the editor draws its background after the element appears
        clear_all = browser.find_element(By.CSS_SELECTOR, '#canvas button[aria-label="Clear canvas"]')
        assert not clear_all.is_displayed()  # it would remove the drawing; "Clear strokes" keeps it
        stroke = ActionChains(browser).move_to_element_with_offset(canvas, -60, -40).click_and_hold()
        for _ in range(12):
            stroke.move_by_offset(8, 3)
        stroke.release().perform()
        browser.find_element(By.ID, "color").click()
        wait = WebDriverWait(browser, 120)
        results = [wait.until(lambda b, i=i: b.find_element(By.CSS_SELECTOR, f"#result-{i} img")) for i in (0, 1)]
        hint = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#hint img"))
        wait.until(lambda b: "colored in" in b.find_element(By.ID, "time-1").text)
        browser.save_screenshot(str(tmp_path / "demo.png"))
        print(f"screenshot: {tmp_path / 'demo.png'}")
        assert all(_image(r.get_attribute("src")).shape == (32, 32, 3) for r in results)
        brush = np.array([int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5)])
        painted = np.abs(_image(hint.get_attribute("src")).astype(int) - brush).sum(axis=-1) < 30
        assert painted.sum() >= 3  # the stroke reached the model's hint in the brush's color
    finally:
        browser.quit()
