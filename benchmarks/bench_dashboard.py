"""The dashboard: seconds to the start page's first screen, to its button's first prediction, to an upload's overlay.

    python benchmarks/bench_dashboard.py            # 1 cold + 3 warm starts, 3 cached-model uploads
    python benchmarks/bench_dashboard.py --quick

Drives headless Chromium (/usr/bin/chromium) with Playwright. Every wait is on a DOM condition
(the Home page's "segdash" heading; its "Predict a test image now" button; the "Prediction"
caption under an overlay), never a sleep.

1. First screen: ``streamlit run app.py`` is spawned; "server answering" is the moment it prints
   its URL; the clock stops when the browser shows the start page's heading. Also reported from
   the spawn, as before (the browser is launched beforehand and not counted).
2. First prediction: as soon as the Home page's "Predict a test image now" button can be
   clicked (right after the title, as a user would), it is clicked; the clock stops when the
   Predict page shows the overlay's "Prediction" caption. The server starts loading the default
   model (and preparing its dataset) in the background when it starts, before any connection,
   so this measures what is left of that load. Bars: the button clickable within 3 s of the
   server answering; the click's overlay within 3 s cold and 1.5 s warm.
3. Cold and warm: the first server runs on an empty cache folder (``$SEGDASH_CACHE``: the
   built-in dataset is prepared and the model exported to ONNX Runtime on the spot); the
   following ones (warm) reuse that folder, as any later start does.
4. Upload: on the last warm server, a new session on the Predict page puts 256x256 grayscale
   PNGs in the file uploader, each a different image; the clock stops when its overlay's
   "Prediction" caption is visible (model cached in ``st.cache_resource``). Then a new session
   switches the sidebar to street-synth and uploads 2048x1024 RGB PNGs (Cityscapes' size; the
   13-class street model): the bar is upload to overlay under 3 s with the model cached.
5. What loading the default model costs, step by step, in a fresh child process: cold (importing
   torch, smp and timm, building the model, exporting it to ONNX, opening the ONNX Runtime session,
   checking it against PyTorch) and warm (the graph and its check cached).

The app uses the shipped checkpoints in weights/; with none there, a fresh default model is saved
to a temporary folder and the app pointed at it with ``$SEGDASH_WEIGHTS``. Figures are valid only
on an idle machine: the 1-minute load average is printed at the start and the end.
"""

from __future__ import annotations

import io
import json
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
#: Cityscapes' size, for the large-upload figure (issue 14: upload to overlay under 3 s, model cached)
LARGE_UPLOAD = (2048, 1024)
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


def time_first_screen(browser, env: dict[str, str]) -> tuple[dict[str, float], StreamlitServer, object]:
    """A fresh ``streamlit run app.py``: seconds to its first screen, then from its button to a first prediction.

    Returns ({"spawn_to_title", "answering_to_title", "title_to_button", "click_to_overlay"}, server, page).
    """
    timeout_ms = START_TIMEOUT_S * 1000
    page = browser.new_page()
    spawned = time.perf_counter()
    server = StreamlitServer(env)
    try:
        server.wait_listening(START_TIMEOUT_S)
        answering = time.perf_counter()
        page.goto(server.url, wait_until="commit", timeout=timeout_ms)
        page.get_by_role("heading", name="segdash").first.wait_for(state="visible", timeout=timeout_ms)
        title = time.perf_counter()
        button = page.get_by_role("button", name="Predict a test image now")
        button.wait_for(state="visible", timeout=timeout_ms)
        clicked = time.perf_counter()
        button.click(timeout=timeout_ms)
        overlay_caption(page).first.wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
        shown = time.perf_counter()
    except BaseException:
        server.stop()
        raise
    times = {"spawn_to_title": title - spawned, "answering_to_title": title - answering,
             "title_to_button": clicked - title, "click_to_overlay": shown - clicked}  # fmt: skip
    return times, server, page


def overlay_caption(page):
    """The "Prediction" caption under a prediction overlay (the Predict page's)."""
    return page.locator('[data-testid="stImage"]').get_by_text("Prediction", exact=True)


def open_upload(page, url: str) -> None:
    page.goto(f"{url}/predict", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Predict").first.wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
    page.get_by_text("Upload", exact=True).first.click()
    page.locator('input[type="file"]').first.wait_for(state="attached", timeout=UPLOAD_TIMEOUT_S * 1000)


def time_upload(page, png: bytes, name: str, expected_results: int) -> float:
    """Seconds from handing ``png`` to the uploader to the ``expected_results``-th 'Prediction' overlay."""
    captions = overlay_caption(page)
    start = time.perf_counter()
    page.locator('input[type="file"]').first.set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": png}])
    captions.nth(expected_results - 1).wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
    return time.perf_counter() - start


def large_street_pngs(count: int) -> list[bytes]:
    """``count`` different 2048x1024 RGB PNGs (Cityscapes' size): street-synth test scenes scaled up."""
    from PIL import Image

    from segdash.data import open_dataset

    ds = open_dataset("street-synth")
    encoded = []
    for sample_id in ds.ids("test")[:count]:
        picture = Image.fromarray(ds.load("test", sample_id).image).resize(LARGE_UPLOAD, Image.BILINEAR)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded


def time_large_uploads(browser, url: str, count: int) -> list[float]:
    """A new session on street-synth (its 13-class model): 2048x1024 uploads, each to its overlay. The street
    model is loaded while the Home page shows (its warm-up) or by the first upload; each later upload also
    redraws the earlier ones from the cache."""
    page = browser.new_page()
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("heading", name="segdash").first.wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="street-synth").click()
        page.get_by_text("13 classes").first.wait_for(state="visible", timeout=UPLOAD_TIMEOUT_S * 1000)
        page.get_by_role("link", name="Predict").first.click()
        page.get_by_text("Upload", exact=True).first.click()
        page.locator('input[type="file"]').first.wait_for(state="attached", timeout=UPLOAD_TIMEOUT_S * 1000)
        return [time_upload(page, png, f"street_{k}.png", k) for k, png in enumerate(large_street_pngs(count), 1)]
    finally:
        page.close()


def load_breakdown(cached: bool) -> None:
    """Child process: seconds of each step of loading the default model on CPU, as one JSON line.

    Cold (``cached`` False): the steps ``Predictor.from_checkpoint`` takes when nothing is cached,
    segdash.infer.onnx's own functions called one by one. Warm: the graph and its check are in the
    cache folder, as on every later start; the ``Predictor`` is built from the loaded model.
    The default model is the one a new session's sidebar shows.
    """
    steps: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = now - clock
        clock = now

    import onnxruntime  # noqa: F401
    import torch

    step("import torch, onnxruntime")
    import segmentation_models_pytorch  # noqa: F401
    import timm  # noqa: F401

    from segdash.infer import onnx as sd_onnx
    from segdash.infer.predictor import Predictor
    from segdash.models.checkpoint import load_checkpoint

    step("import smp, timm, segdash.infer")
    from segdash.ui.sidebar import default_model_choice

    checkpoint = default_model_choice().path
    step("find the default checkpoint (opens the dataset)")
    model, meta = load_checkpoint(checkpoint)
    step("build the model and load its weights")
    if cached:
        predictor = Predictor(model, meta, device="cpu")
        step(f"Predictor with the graph cached (fingerprint, session, recorded check): {predictor.backend}")
        print(json.dumps({"checkpoint": checkpoint, "steps": steps, "torch_threads": torch.get_num_threads()}))
        return
    sd_onnx.model_fingerprint(model, meta.in_channels)
    step("fingerprint the weights (ONNX cache key)")
    graph = sd_onnx.export_onnx_bytes(model, meta.in_channels)
    step("export to ONNX (torch.onnx.export)")
    session = sd_onnx.make_session(graph)
    step("open the ONNX Runtime session")
    check = sd_onnx.verify_onnx(model, session, meta.in_channels)
    step("check ONNX against PyTorch (2 shapes)")
    print(json.dumps({"checkpoint": checkpoint, "steps": steps, "torch_threads": torch.get_num_threads(),
                      "check_ok": bool(check.ok), "onnx_bytes": len(graph)}))  # fmt: skip


def time_load_breakdown(env: dict[str, str], cached: bool) -> dict:
    """``load_breakdown`` in a fresh process with the app's environment."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_dashboard; "
            f"bench_dashboard.load_breakdown({cached})")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(REPO_ROOT), env=env, capture_output=True,
                          text=True, timeout=START_TIMEOUT_S)  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load breakdown failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def summary_row(measure: str, seconds: list[float]) -> dict:
    return {"measure": measure, "median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "repeats": len(seconds)}  # fmt: skip


def report_first_screens(report: Report, cold: dict[str, float], warm: list[dict[str, float]]) -> None:
    """Rows for the cold start and the warm ones, and the issue's bars (2 s to the title, 3 s to the prediction)."""
    labels = {"answering_to_title": "server answering -> start page title shown",
              "title_to_button": "title -> 'Predict a test image now' clickable",
              "click_to_overlay": "click -> prediction overlay shown on Predict"}  # fmt: skip
    for key, label in labels.items():
        report.add_row(**summary_row(f"cold (empty cache): {label}", [cold[key]]))
        report.add_row(**summary_row(f"warm: {label}", [times[key] for times in warm]))
    report.add_row(**summary_row("streamlit run app.py -> start page shown", [t["spawn_to_title"] for t in warm]))
    click_bars = {"cold": 3.0, "warm": 1.5}  # the model starts loading with the server, so warm is nearly free
    for name, times in (("cold", [cold]), ("warm", warm)):
        worst_title = max(t["answering_to_title"] for t in times)
        worst_button = max(t["answering_to_title"] + t["title_to_button"] for t in times)
        worst_click = max(t["click_to_overlay"] for t in times)
        report.add_check(f"{name}: server answering -> title", worst_title, 2.0, higher_is_better=False, unit=" s")
        report.add_check(f"{name}: server answering -> button clickable", worst_button, 3.0, higher_is_better=False,
                         unit=" s")
        report.add_check(f"{name}: click -> first prediction", worst_click, click_bars[name], higher_is_better=False,
                         unit=" s")


def run_servers(browser, env: dict[str, str], starts: int,
                uploads: int) -> tuple[dict, list[dict], list[float], list[float]]:
    """One cold start on the empty cache, ``starts`` warm ones; uploads on the last.
    Returns (cold, warm, 256x256 upload seconds, 2048x1024 upload seconds)."""
    first_screens: list[dict[str, float]] = []
    upload_seconds: list[float] = []
    large_seconds: list[float] = []
    pngs = upload_images(uploads)
    for index in range(starts + 1):
        times, server, page = time_first_screen(browser, env)
        first_screens.append(times)
        kind = "cold (empty cache)" if index == 0 else f"warm {index}"
        print(f"[dashboard] {kind}: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()), flush=True)
        try:
            if index == starts:  # a new session on the last server: the model is loaded, every upload is cached
                page.close()
                page = browser.new_page()
                open_upload(page, server.url)
                for k, png in enumerate(pngs, start=1):
                    upload_seconds.append(time_upload(page, png, f"slice_{k}.png", k))
                    print(f"[dashboard] upload {k} (model cached): {upload_seconds[-1]:.2f} s", flush=True)
                large_seconds = time_large_uploads(browser, server.url, uploads + 1)
                print(f"[dashboard] 2048x1024 uploads on street-synth: {large_seconds}", flush=True)
        finally:
            page.close()
            server.stop()
    return first_screens[0], first_screens[1:], upload_seconds, large_seconds


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    starts = args.repeats or pick(args, 3, 2, 1)
    uploads = args.repeats or pick(args, 3, 2, 1)
    report = Report("dashboard", {"cold_starts": 1, "warm_starts": starts, "cached_uploads": uploads,
                                  "mode": mode_name(args), "browser": CHROMIUM}, device="cpu")  # fmt: skip
    print(f"[dashboard] load average (1 min) at the start: {report.loads[0]}", flush=True)
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
        env["SEGDASH_CACHE"] = str(Path(tmp) / "cache")  # empty: the first start is cold
        report.params["model"] = model_source
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        cold, warm, upload_seconds, large_seconds = run_servers(browser, env, starts, uploads)
        browser.close()
        loads = {"cold": time_load_breakdown(dict(env, SEGDASH_CACHE=str(Path(tmp) / "cache-breakdown")), False),
                 "warm": time_load_breakdown(env, True)}  # fmt: skip
    report_first_screens(report, cold, warm)
    report.add_row(**summary_row("upload 256x256 -> overlay shown, model cached", upload_seconds))
    if large_seconds:
        report.add_row(**summary_row("upload 2048x1024 RGB -> overlay, 13-class model, first upload", large_seconds[:1]))
        report.add_row(**summary_row("upload 2048x1024 RGB -> overlay, 13-class model, next uploads", large_seconds[1:]))
        report.add_check("2048x1024 upload -> overlay, 13-class model cached", max(large_seconds[1:]), 3.0,
                         higher_is_better=False, unit="s")  # fmt: skip
    for kind, breakdown in loads.items():
        report.params[f"{kind}_model_load"] = breakdown
        for name, seconds in breakdown["steps"].items():
            report.add_row(measure=f"{kind} model load (child process): {name}", median_s=seconds, repeats=1)
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
