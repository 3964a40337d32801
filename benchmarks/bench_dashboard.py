"""The dashboard: seconds from ``streamlit run app.py`` to the start page, and from an upload to its overlay.

    python benchmarks/bench_dashboard.py            # 3 fresh starts, 3 cached-model uploads
    python benchmarks/bench_dashboard.py --quick

Drives headless Chromium (/usr/bin/chromium) with Playwright. Every wait is on a DOM condition
(the Home page's "segdash" heading; the "Prediction" caption under the overlay), never a sleep.

1. Start: the clock starts when ``streamlit run app.py`` is spawned and stops when the browser
   shows the start page's heading (the browser is launched beforehand and not counted).
2. Upload: on the Predict page, a 256x256 grayscale PNG is put in the file uploader; the clock
   stops when the overlay's "Prediction" caption is visible. The first upload loads the model
   (reported as "cold"); the following ones, each a different image, run with the model cached
   (``st.cache_resource``) and are the figure asked for.

The app uses the shipped checkpoints in weights/; with none there, a fresh default model is saved
to a temporary folder and the app pointed at it with ``$SEGDASH_WEIGHTS``.
"""

from __future__ import annotations

import io
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import REPO_ROOT, Report, make_parser, mode_name, pick

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
START_TIMEOUT_S = 180
UPLOAD_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` as a child process; ``wait_listening`` blocks on its stdout, not on a timer."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
             f"--server.port={self.port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
             "--server.fileWatcherType=none", "--server.runOnSave=false"],
            cwd=str(REPO_ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("streamlit exited before serving:\n" + "".join(self.log[-30:]))
            self.log.append(line)
            if "URL:" in line or "can now view" in line:
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def upload_images(count: int, size: int = 256) -> list[bytes]:
    """``count`` different 256x256 8-bit grayscale PNGs: brain-mri test slices when available."""
    from PIL import Image

    pictures = []
    try:
        from segdash.data import open_dataset

        ds = open_dataset("brain-mri")
        ids = ds.ids("test")
        for sample_id in ids[:: max(1, len(ids) // count)][:count]:
            image = ds.load("test", sample_id).image[:, :, 0]
            pictures.append(np.clip(image * 255, 0, 255).astype(np.uint8))
    except Exception:  # noqa: BLE001 - the dashboard benchmark must not depend on the dataset
        pictures = []
    rng = np.random.default_rng(0)
    while len(pictures) < count:
        pictures.append(rng.integers(0, 256, (size, size), dtype=np.uint8))
    encoded = []
    for picture in pictures:
        buffer = io.BytesIO()
        Image.fromarray(picture).resize((size, size), Image.BILINEAR).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded


def weights_env(tmp: Path) -> tuple[dict[str, str], str]:
    """Environment for the app: shipped weights if any, else a fresh default checkpoint in ``tmp``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
               SEGDASH_RUNS=str(tmp / "runs"))
    from segdash.models.checkpoint import CheckpointMeta, find_checkpoints, save_checkpoint

    if find_checkpoints(REPO_ROOT / "weights"):
        return env, "shipped weights/"
    from segdash.data import open_dataset
    from segdash.models.registry import create_model

    ds = open_dataset("brain-mri")
    model = create_model("Unet", "tu-tf_efficientnet_lite0", in_channels=ds.in_channels, num_classes=ds.num_classes)
    meta = CheckpointMeta(arch="Unet", encoder="tu-tf_efficientnet_lite0", classes=list(ds.classes),
                          colors=list(ds.colors), in_channels=ds.in_channels, normalization=ds.normalization,
                          ignore_index=ds.ignore_index, dataset="brain-mri")
    save_checkpoint(model, meta, tmp / "weights" / "brain-mri-fresh")
    env["SEGDASH_WEIGHTS"] = str(tmp / "weights")
    return env, "fresh Unet-lite0 (weights/ is empty)"


def time_start(browser, env: dict[str, str]) -> tuple[float, StreamlitServer, object]:
    """Seconds from spawning ``streamlit run app.py`` to the Home page's heading being visible."""
    page = browser.new_page()
    start = time.perf_counter()
    server = StreamlitServer(env)
    try:
        server.wait_listening(START_TIMEOUT_S)
        page.goto(server.url, wait_until="domcontentloaded", timeout=START_TIMEOUT_S * 1000)
        page.get_by_role("heading", name="segdash").first.wait_for(state="visible", timeout=START_TIMEOUT_S * 1000)
    except BaseException:
        server.stop()
        raise
    return time.perf_counter() - start, server, page


def open_upload(page, url: str) -> None:
    page.goto(f"{url}/predict", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Predict").first.wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
    page.get_by_text("Upload", exact=True).first.click()
    page.locator('input[type="file"]').first.wait_for(state="attached", timeout=UPLOAD_TIMEOUT_S * 1000)


def time_upload(page, png: bytes, name: str, expected_results: int) -> float:
    """Seconds from handing ``png`` to the uploader to the ``expected_results``-th 'Prediction' overlay."""
    captions = page.locator('[data-testid="stImage"]').get_by_text("Prediction", exact=True)
    start = time.perf_counter()
    page.locator('input[type="file"]').first.set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": png}])
    captions.nth(expected_results - 1).wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    starts = args.repeats or pick(args, 3, 2, 1)
    uploads = args.repeats or pick(args, 3, 2, 1)
    report = Report("dashboard", {"starts": starts, "cached_uploads": uploads, "mode": mode_name(args),
                                  "browser": CHROMIUM}, device="cpu")
    if not (REPO_ROOT / "app.py").is_file():
        report.note("app.py not found: nothing to measure")
        report.finish(args)
        return 0
    if not Path(CHROMIUM).exists():
        report.note(f"{CHROMIUM} not found: install Debian's chromium to run this benchmark")
        report.finish(args)
        return 0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="segdash-bench-dash-") as tmp, sync_playwright() as pw:
        env, model_source = weights_env(Path(tmp))
        env.setdefault("SEGDASH_CACHE", str(Path(tmp) / "cache"))
        report.params["model"] = model_source
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        start_seconds, cold_seconds, cached_seconds = [], [], []
        pngs = upload_images(uploads + 1)
        for start_index in range(starts):
            seconds, server, page = time_start(browser, env)
            start_seconds.append(seconds)
            print(f"[dashboard] start {start_index + 1}: {seconds:.2f} s to the start page", flush=True)
            try:
                if start_index == starts - 1:  # uploads on the last server: model cold once, then cached
                    open_upload(page, server.url)
                    cold_seconds.append(time_upload(page, pngs[0], "slice_0.png", 1))
                    print(f"[dashboard] first upload (loads the model): {cold_seconds[-1]:.2f} s", flush=True)
                    for k in range(1, uploads + 1):
                        cached_seconds.append(time_upload(page, pngs[k], f"slice_{k}.png", k + 1))
                        print(f"[dashboard] upload {k} (model cached): {cached_seconds[-1]:.2f} s", flush=True)
            finally:
                page.close()
                server.stop()
        browser.close()
    report.add_row(measure="streamlit run app.py -> start page shown", median_s=statistics.median(start_seconds),
                   min_s=min(start_seconds), max_s=max(start_seconds), repeats=len(start_seconds))
    report.add_row(measure="upload 256x256 -> overlay shown, model cached", median_s=statistics.median(cached_seconds),
                   min_s=min(cached_seconds), max_s=max(cached_seconds), repeats=len(cached_seconds))
    report.add_row(measure="first upload (loads the model)", median_s=cold_seconds[0], repeats=1)
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
