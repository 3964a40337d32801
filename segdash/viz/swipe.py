"""A swipe view: two pictures of the same image (A's and B's overlays) under one slider.

    html = swipe_html(overlay_a, overlay_b, "A: epoch 3", "B: best")   # HxWx3 uint8 each
    st.iframe(html, height=swipe_height(overlay_a.shape, 720))

The slider wipes from A (left of the line) to B (right of it); the wheel zooms both pictures
together around the pointer, a drag pans them, a double click resets. Everything is in the HTML
(the pictures as PNG data URIs, a few lines of script), so it works offline and in a report.
"""

from __future__ import annotations

import html
import json

import numpy as np

from segdash.viz.embed import png_data_uri

_TEMPLATE = """<!DOCTYPE html><html><head><meta charset=utf-8><style>
body { margin: 0; font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; }
.box { position: relative; width: 100%; max-width: __WIDTH__px; aspect-ratio: __ASPECT__; overflow: hidden;
       background: #111; cursor: grab; user-select: none; touch-action: none; }
.layer { position: absolute; inset: 0; overflow: hidden; }
.stage { position: absolute; inset: 0; transform-origin: 0 0; }
.stage img { width: 100%; height: 100%; image-rendering: pixelated; display: block; pointer-events: none; }
.line { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #fff;
        box-shadow: 0 0 4px #000; pointer-events: none; }
.tag { position: absolute; top: 6px; padding: 2px 7px; font-size: 13px; color: #fff; background: rgba(0,0,0,.6);
       border-radius: 3px; pointer-events: none; }
.bar { display: flex; align-items: center; gap: 10px; max-width: __WIDTH__px; font-size: 13px; color: #333; }
.bar input { flex: 1; }
</style></head><body>
<div class=box id=box>
  <div class=layer><div class=stage><img alt="__ALT_A__" src="__SRC_A__"></div></div>
  <div class=layer id=right><div class=stage><img alt="__ALT_B__" src="__SRC_B__"></div></div>
  <div class=line id=line></div>
  <span class=tag style="left:6px">__LABEL_A__</span><span class=tag style="right:6px">__LABEL_B__</span>
</div>
<div class=bar><span>__LABEL_A__</span>
  <input type=range id=wipe min=0 max=100 step=0.5 value=__START__ aria-label="share of __ALT_B__ shown">
  <span>__LABEL_B__</span></div>
<div class=bar style="color:#777;font-size:12px">wheel: zoom both · drag: pan · double click: reset</div>
<script>
(function () {
  const box = document.getElementById("box"), right = document.getElementById("right"),
        line = document.getElementById("line"), wipe = document.getElementById("wipe"),
        stages = Array.from(document.querySelectorAll(".stage"));
  let scale = 1, x = 0, y = 0, drag = null;
  function draw() {
    const cut = 100 - Number(wipe.value);  // B is shown right of the line
    right.style.clipPath = "inset(0 0 0 " + cut + "%)";
    line.style.left = cut + "%";
    const t = "translate(" + x + "px," + y + "px) scale(" + scale + ")";
    stages.forEach(function (s) { s.style.transform = t; });
  }
  function clamp() {
    const w = box.clientWidth, h = box.clientHeight;
    x = Math.min(0, Math.max(w - w * scale, x)); y = Math.min(0, Math.max(h - h * scale, y));
  }
  wipe.addEventListener("input", draw);
  box.addEventListener("wheel", function (e) {
    e.preventDefault();
    const r = box.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
    const next = Math.min(16, Math.max(1, scale * (e.deltaY < 0 ? 1.25 : 0.8)));
    x = px - (px - x) * next / scale; y = py - (py - y) * next / scale; scale = next; clamp(); draw();
  }, { passive: false });
  box.addEventListener("pointerdown", function (e) { drag = [e.clientX - x, e.clientY - y]; box.setPointerCapture(e.pointerId); });
  box.addEventListener("pointermove", function (e) { if (drag) { x = e.clientX - drag[0]; y = e.clientY - drag[1]; clamp(); draw(); } });
  box.addEventListener("pointerup", function () { drag = null; });
  box.addEventListener("dblclick", function () { scale = 1; x = 0; y = 0; draw(); });
  draw();
})();
</script></body></html>"""


def swipe_height(shape: tuple[int, ...], width: int) -> int:
    """Pixels the swipe view needs at ``width`` for an image of ``shape`` (H, W, ...), slider included."""
    return round(width * shape[0] / max(shape[1], 1)) + 70


def swipe_html(rgb_a: np.ndarray, rgb_b: np.ndarray, label_a: str = "A", label_b: str = "B",
               width: int = 720, start: float = 50.0) -> str:  # fmt: skip
    """A self-contained HTML page: ``rgb_a`` and ``rgb_b`` (HxWx3 uint8, the same size) under one wipe slider.

    ``start``: the share of B shown at first, in percent.
    """
    if rgb_a.shape[:2] != rgb_b.shape[:2]:
        raise ValueError(f"the two pictures differ in size: {rgb_a.shape[:2]} and {rgb_b.shape[:2]}")
    height, image_width = rgb_a.shape[:2]
    values = {
        "__WIDTH__": str(int(width)), "__ASPECT__": f"{image_width} / {height}",
        "__SRC_A__": png_data_uri(rgb_a), "__SRC_B__": png_data_uri(rgb_b),
        "__ALT_A__": html.escape(label_a, quote=True), "__ALT_B__": html.escape(label_b, quote=True),
        "__LABEL_A__": html.escape(label_a), "__LABEL_B__": html.escape(label_b),
        "__START__": json.dumps(float(min(max(start, 0.0), 100.0))),
    }  # fmt: skip
    page = _TEMPLATE
    for key, value in values.items():
        page = page.replace(key, value)
    return page
