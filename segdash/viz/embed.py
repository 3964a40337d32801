"""Pictures embedded in HTML: ``data:`` URIs, so that a page or a report opens offline with nothing to fetch.

    src = png_data_uri(rgb)     # "data:image/png;base64,..." for <img src=...>
"""

from __future__ import annotations

import base64

import numpy as np


def png_data_uri(rgb: np.ndarray) -> str:
    """An ``HxWx3 uint8`` image as a ``data:image/png;base64,...`` URI (embedded, nothing to fetch)."""
    from segdash.viz.overlay import encode_png

    return "data:image/png;base64," + base64.b64encode(encode_png(rgb)).decode("ascii")
