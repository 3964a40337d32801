"""Visualisation: overlays (numpy images) and Plotly figures, as pure functions.

No streamlit and no torch here: arrays and frames in, ``HxWx3 uint8`` images or
``plotly.graph_objects.Figure`` out. The dashboard pages only arrange them.
"""

from segdash.viz.overlay import (
    DifferenceMap,
    colorize,
    confusion_pixels,
    difference_map,
    encode_png,
    error_counts,
    error_map,
    grid,
    highlight_pixels,
    overlay_mask,
    region_borders,
    side_by_side,
    to_display_rgb,
)
from segdash.viz.palette import default_palette, hex_color, legend_items, palette_for

__all__ = [
    "DifferenceMap",
    "colorize",
    "confusion_pixels",
    "default_palette",
    "difference_map",
    "encode_png",
    "error_counts",
    "error_map",
    "grid",
    "hex_color",
    "highlight_pixels",
    "legend_items",
    "overlay_mask",
    "palette_for",
    "region_borders",
    "side_by_side",
    "to_display_rgb",
]
