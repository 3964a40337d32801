"""Drawing a large prediction against predicting it: 2048x1024, 13 classes, as the Predict page does.

    python benchmarks/bench_render.py            # 2048x1024, the shipped 13-class street-synth model
    python benchmarks/bench_render.py --quick

Times, interleaved in one process:
- inference: ``Predictor.predict`` of the shipped ``street-synth_unet_lite0`` (13 classes) on one image;
- the page's drawing: ``for_display`` (image area-averaged, label maps sampled to at most 1024 px), the
  prediction and ground-truth overlays (fill and contours), the error map, and the encoding ``st.image``
  does for the browser (JPEG at quality 100; wider than 1460 px: decoded, resized and encoded again);
- the same drawn at full size (what the page did before: every panel 2048x1024), for the ratio.
The issue's bar: drawing costs well under the inference (here: at most a quarter of it).
"""

from __future__ import annotations

import io
import sys

import numpy as np
from common import REPO_ROOT, Report, make_parser, mode_name, pick, repeats, time_interleaved

CHECKPOINT = REPO_ROOT / "weights" / "street-synth_unet_lite0"
NUM_CLASSES = 13
SHARE_BAR = 0.25


def scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A street-like RGB image and a 13-class mask of horizontal bands and boxes (smooth regions, as in Cityscapes)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), np.int64)
    mask[: height // 3] = 1
    mask[height // 3 : height // 2] = 2
    mask[height // 2 :] = 3
    for _ in range(40):
        y, x = rng.integers(0, height - 32), rng.integers(0, width - 32)
        h, w = rng.integers(16, height // 4), rng.integers(16, width // 6)
        mask[y : y + h, x : x + w] = rng.integers(4, NUM_CLASSES)
    colors = rng.integers(0, 256, (NUM_CLASSES, 3))
    image = np.clip(colors[mask] + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    return image, mask


def draw_panels(image, labels, truth, colors, max_side: int | None) -> list[bytes]:
    """The Predict page's panels (image, prediction and truth with fill and contours, error map) as the bytes
    ``st.image`` sends; ``max_side=None`` draws them at full size."""
    from segdash.viz.overlay import error_map, for_display, overlay_mask

    if max_side is None:
        picture, (small_labels, small_truth) = for_display(image, labels, truth, max_side=max(image.shape))
    else:
        picture, (small_labels, small_truth) = for_display(image, labels, truth, max_side=max_side)
    panels = [picture, overlay_mask(picture, small_labels, colors, alpha=0.5, mode="both"),
              overlay_mask(picture, small_truth, colors, alpha=0.5, mode="both"),
              error_map(small_labels, small_truth, image=picture)]  # fmt: skip
    return [streamlit_image_bytes(panel) for panel in panels]


def streamlit_image_bytes(rgb: np.ndarray, max_width: int = 1460) -> bytes:
    """What Streamlit 1.x's ``st.image`` does with an RGB array: JPEG at quality 100 and, for a picture wider
    than its content width, decode, bilinear resize and JPEG at quality 90 (``elements/lib/image_utils``)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=100)
    if rgb.shape[1] <= max_width:
        return buffer.getvalue()
    image = Image.open(io.BytesIO(buffer.getvalue()))
    resized = image.resize((max_width, int(rgb.shape[0] * max_width / rgb.shape[1])), Image.BILINEAR)
    buffer = io.BytesIO()
    resized.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    args = make_parser(__doc__.splitlines()[0]).parse_args(argv)
    height, width = pick(args, (1024, 2048), (1024, 2048), (256, 512))
    reps = repeats(args, full=7, quick=3)
    report = Report("render", {"size": f"{width}x{height}", "classes": NUM_CLASSES, "repeats": reps,
                               "mode": mode_name(args)})  # fmt: skip
    from segdash.infer.predictor import predictor_for
    from segdash.viz.overlay import DISPLAY_MAX_SIDE

    predictor = predictor_for(CHECKPOINT, device="cpu" if args.device == "auto" else args.device)
    image, truth = scene(height, width)
    labels = predictor.predict(image).labels
    colors = [tuple(int(v) for v in c) for c in predictor.meta.colors]
    timings = time_interleaved({
        "inference": lambda: predictor.predict(image),
        "draw at display size": lambda: draw_panels(image, labels, truth, colors, DISPLAY_MAX_SIDE),
        "draw at full size": lambda: draw_panels(image, labels, truth, colors, None),
    }, repeats=reps)  # fmt: skip
    inference = timings["inference"].median
    for name, timing in timings.items():
        report.add_row(case=name, **timing.summary(), ratio_to_inference=timing.median / inference)
    small, full = timings["draw at display size"].median, timings["draw at full size"].median
    report.add_row(case="full size / display size", speedup=full / small)
    report.add_check("drawing / inference (display size)", small / inference, SHARE_BAR, higher_is_better=False)
    report.note(f"predictor: {predictor.describe()}")
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
