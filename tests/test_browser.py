"""The dashboard in a real browser: ``streamlit run app.py`` driven by headless Chromium (Playwright).

    pytest -m browser tests/test_browser.py
    SEGDASH_SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser.py   # refresh the README's pictures

Uses Debian's Chromium (``/usr/bin/chromium``), never a downloaded browser. Streamlit
draws progressively and marks re-rendering elements stale, so every step waits for a
condition in the page (a heading, a caption, loaded images, a chart's point count),
never for a fixed time. Screenshots of every page go to ``$SEGDASH_SCREENSHOTS``
(default ``test-artifacts/screenshots``).

The app runs on ``$SEGDASH_WEIGHTS`` when set, else on the shipped checkpoints in
``weights/`` when at least two of them fit brain-mri, else on two small random
checkpoints saved by the test.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)

from _dashboard import save_random_checkpoints  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
START_TIMEOUT_S = 120
STEP_TIMEOUT_MS = 120_000
TRAIN_TIMEOUT_MS = 420_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shipped_brain_checkpoints() -> int:
    """How many checkpoints in weights/ fit brain-mri."""
    from segdash.models.checkpoint import find_checkpoints, read_meta

    count = 0
    for path in find_checkpoints(REPO / "weights"):
        try:
            count += read_meta(path).dataset == "brain-mri"
        except Exception:
            continue
    return count


class StreamlitServer:
    """``streamlit run app.py`` as a child process; ``start`` returns once it says it listens."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log: deque[str] = deque(maxlen=200)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)  # fmt: skip
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                if "URL:" in line:
                    ready.set()
            ready.set()  # the process ended: stop waiting

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("streamlit did not start:\n" + "\n".join(self.log))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = dict(os.environ)
    env["SEGDASH_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    env.setdefault("SEGDASH_CACHE", str(tmp_path_factory.getbasetemp() / "segdash-cache"))
    if not env.get("SEGDASH_WEIGHTS") and shipped_brain_checkpoints() < 2:
        env["SEGDASH_WEIGHTS"] = str(save_random_checkpoints(tmp_path_factory.mktemp("weights")))
    app = StreamlitServer(env)
    app.start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    # Tall enough that each page fits without scrolling Streamlit's inner container.
    context = browser.new_context(viewport={"width": 1440, "height": 1500})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def wait_idle(page) -> None:
    """Until the script run ends (Streamlit's header shows Stop while the script runs)."""
    page.wait_for_function(
        """() => ![...document.querySelectorAll('[data-testid="stBaseButton-header"]')]
                   .some(button => button.innerText.trim() === 'Stop')"""
    )


def screenshot(page, name: str) -> Path:
    folder = Path(os.environ.get("SEGDASH_SCREENSHOTS") or REPO / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    trim_bottom(path)
    return path


def trim_bottom(path: Path, sidebar_px: int = 320, margin_px: int = 40) -> None:
    """Cut the empty white band under the page's content (the viewport is tall on purpose)."""
    image = np.asarray(Image.open(path).convert("RGB"))
    main = image[:, sidebar_px:-20].astype(np.int16)
    drawn = np.flatnonzero((np.abs(main - 255).max(axis=2) > 8).any(axis=1))
    if drawn.size:
        bottom = min(image.shape[0], max(600, int(drawn[-1]) + margin_px))
        Image.fromarray(image[:bottom]).save(path)


def open_page(page, server, path: str, heading: str) -> None:
    page.goto(f"{server.url}/{path}")
    page.get_by_role("heading", name=heading, exact=True).wait_for()


def wait_images(page, count: int) -> None:
    """Until at least ``count`` images of st.image are fully loaded (not only their captions drawn)."""
    page.wait_for_function(
        """n => [...document.querySelectorAll('[data-testid="stImage"] img')]
                 .filter(img => img.complete && img.naturalWidth > 0).length >= n""",
        arg=count,
    )


def wait_all_images(page) -> None:
    """Until the page shows at least one st.image and every one of them is loaded."""
    page.wait_for_function(
        """() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img')];
                   return imgs.length > 0 && imgs.every(img => img.complete && img.naturalWidth > 0); }"""
    )


def wait_charts(page, count: int) -> None:
    """Until ``count`` visible Plotly charts hold data."""
    page.wait_for_function(
        """n => [...document.querySelectorAll('.js-plotly-plot')]
                 .filter(gd => gd.offsetParent !== null && gd.data && gd.data.length).length >= n""",
        arg=count,
    )


def png_256() -> bytes:
    """A 256x256 grayscale brain-mri slice (padded), as a user would upload it."""
    from segdash.data import open_dataset

    ds = open_dataset("brain-mri")
    image = ds.load("test", ds.ids("test")[len(ds.ids("test")) // 2]).image[:, :, 0]
    canvas = np.zeros((256, 256), np.uint8)
    canvas[32:224, 32:224] = np.rint(image * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the tests ---------------------------------------------------------------------------------
def test_home_first_prediction_and_upload(page, server, tmp_path):
    open_page(page, server, "", "segdash")
    page.get_by_text("Source:").first.wait_for()
    wait_all_images(page)
    wait_idle(page)
    screenshot(page, "home")

    page.get_by_role("button", name="Predict a test image now").click()
    page.get_by_role("heading", name="Predict", exact=True).wait_for()
    page.get_by_text("Errors: red wrong").first.wait_for()
    wait_images(page, 4)  # image, prediction, ground truth, error map
    wait_idle(page)
    screenshot(page, "predict")

    upload = tmp_path / "slice_256.png"
    upload.write_bytes(png_256())
    page.get_by_text("Upload", exact=True).click()
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text("slice_256.png · 256x256").wait_for()
    wait_images(page, 2)  # the upload and its prediction overlay
    page.get_by_text("inference").first.wait_for()
    screenshot(page, "predict-upload")


def test_evaluation_and_confusion_click(page, server):
    open_page(page, server, "evaluate", "Evaluate")
    # With distance metrics (the slow part): the progress bar shows, and Cancel stops the run.
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("Evaluating brain-mri / test").wait_for()
    screenshot(page, "evaluate-progress")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Evaluation cancelled").or_(page.get_by_text("Evaluated brain-mri / test")).wait_for()

    page.get_by_text("Distance metrics").click()  # off: keep the full run short
    page.get_by_role("button", name="Run evaluation").click()
    page.get_by_text("Evaluated brain-mri / test").wait_for()
    wait_charts(page, 1)  # the IoU bars under the per-class table
    wait_idle(page)
    screenshot(page, "evaluate")

    page.get_by_role("tab", name="Confusion matrix").click()
    wait_charts(page, 1)
    # Click the cell "grey matter predicted as white matter" (row 2, column 3 of 4 classes).
    cell = page.locator(".js-plotly-plot:visible .scatterlayer .trace:last-child .point").nth(2 * 4 + 3)
    box = cell.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator("strong", has_text="grey matter predicted as white matter").or_(
        page.get_by_text("No pixel of grey matter was predicted as white matter")).wait_for()
    wait_idle(page)
    if page.get_by_text("images with the most such pixels").count():
        wait_all_images(page)
    screenshot(page, "evaluate-confusion")


def test_training_curve_grows_live(page, server):
    open_page(page, server, "train", "Train")
    page.get_by_text("No training run yet").wait_for()
    page.get_by_role("spinbutton", name="Epochs").fill("1")  # the field, not its help button
    page.get_by_role("spinbutton", name="Batch size").fill("8")  # 28 small steps: the curve grows between refreshes
    slider = page.get_by_role("slider").first  # image size: the smallest (32 px) keeps the run short
    slider.focus()
    slider.press("Home")
    page.get_by_role("button", name="Start training").click()

    def loss_points() -> str:
        # The loss chart is the first Plotly chart of the run panel; its first trace is the loss per step.
        return """n => { const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.offsetParent !== null);
                        return gd && gd.data && gd.data.length && gd.data[0].x && gd.data[0].x.length >= n; }"""

    page.wait_for_function(loss_points(), arg=1, timeout=TRAIN_TIMEOUT_MS)
    first = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                               .find(g => g.offsetParent !== null).data[0].x.length""")
    page.wait_for_function(loss_points(), arg=first + 1, timeout=TRAIN_TIMEOUT_MS)  # the curve gained points
    screenshot(page, "train-running")
    page.locator("strong", has_text="finished").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_charts(page, 2)
    wait_images(page, 1)  # validation previews
    screenshot(page, "train")


def test_compare_two_checkpoints(page, server):
    open_page(page, server, "compare", "Compare")
    page.get_by_text("px fixed").first.wait_for()
    wait_images(page, 3 * 4)  # three samples: truth, A, B, what B fixed and broke
    wait_idle(page)
    screenshot(page, "compare")
    page.get_by_role("tab", name="Per-class metrics").click()
    page.get_by_text("against A =").first.wait_for()
    wait_charts(page, 1)
    wait_idle(page)
    screenshot(page, "compare-metrics")


def test_dataset_page(page, server):
    open_page(page, server, "dataset", "Dataset")
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()  # the per-class table
    wait_charts(page, 3)  # pixel distribution, image presence, class weights
    wait_idle(page)
    screenshot(page, "dataset")
    page.get_by_role("tab", name="Samples").click()
    wait_images(page, 8)
    wait_idle(page)
    screenshot(page, "dataset-samples")


def checked_segments(page) -> set[str]:
    """The labels of the segmented-control buttons drawn as chosen."""
    return set(page.evaluate(
        """() => [...document.querySelectorAll('button[aria-checked="true"]')].map(b => b.innerText.trim())"""))


def test_predict_controls_keep_their_values_while_a_checkpoint_folder_is_typed(page, server):
    """Issue 9: a run that stops before the Predict controls (no checkpoint while a folder is typed in the
    sidebar) must not leave them drawn blank or at other values than the ones the cards use."""
    folder = REPO / "weights" / "brain-mri_unet_lite0_epoch03"
    if not folder.is_dir():
        pytest.skip("needs the shipped brain-mri_unet_lite0_epoch03 checkpoint")
    open_page(page, server, "predict", "Predict")
    page.get_by_text("Errors: red wrong").first.wait_for()
    wait_idle(page)
    page.get_by_role("combobox", name="Split").click()
    page.get_by_role("option", name="train", exact=True).click()
    page.get_by_text("train/").first.wait_for()
    wait_idle(page)
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(1).click()
    page.get_by_role("option", name="Checkpoint folder…").click()
    page.get_by_text("Choose a checkpoint in the sidebar.").wait_for()  # the page stopped before its controls
    box = page.get_by_placeholder("runs/my-run/checkpoints/best")
    box.fill(str(folder))
    box.press("Enter")
    page.get_by_text("Errors: red wrong").first.wait_for()
    wait_idle(page)
    assert page.get_by_role("combobox", name="Split").input_value() == "train"
    assert {"Dataset samples", "random", "normalised entropy", "off"} <= checked_segments(page)
    cards = [t for t in page.locator('[data-testid="stMarkdownContainer"] strong').all_inner_texts() if "/" in t]
    assert cards and all(card.startswith("train/") for card in cards), cards
