"""One image-shape policy: ``segdash predict`` refuses exactly the images the dashboard refuses as too thin."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from segdash.data.base import Normalization
from segdash.data.shape import MAX_ASPECT, MIN_SIDE, check_image_shape
from segdash.errors import SegdashError
from segdash.models import CheckpointMeta, create_model, save_checkpoint

pytest.importorskip("streamlit")

#: (height, width) -> refused by the policy
SHAPES = {(1, 1): True, (1, 100_000): True, (MIN_SIDE - 1, 40): True, (MIN_SIDE, MIN_SIDE): False,
          (MIN_SIDE, MIN_SIDE * MAX_ASPECT): False, (MIN_SIDE, MIN_SIDE * MAX_ASPECT + 1): True,
          (40, 32): False}  # fmt: skip


def _png(shape: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("shape, refused", SHAPES.items())
def test_the_dashboard_upload_follows_the_policy(shape, refused):
    from segdash.ui.predict_page import decode_upload

    if refused:
        with pytest.raises(SegdashError, match="too thin to segment"):
            decode_upload("x.png", _png(shape), 3)
        with pytest.raises(SegdashError, match="too thin to segment"):
            check_image_shape("x.png", shape)
    else:
        assert decode_upload("x.png", _png(shape), 3).image.shape[:2] == shape


def test_segdash_predict_refuses_the_same_images(tmp_path, capsys):
    from segdash import cli

    torch.manual_seed(0)
    model = create_model("Unet", "mobilenet_v2", in_channels=3, num_classes=2)
    meta = CheckpointMeta(arch="Unet", encoder="mobilenet_v2", classes=["a", "b"], colors=[(0, 0, 0), (255, 0, 0)],
                          in_channels=3, normalization=Normalization.imagenet())  # fmt: skip
    checkpoint = save_checkpoint(model, meta, tmp_path / "ck")
    folder = tmp_path / "images"
    folder.mkdir()
    names = {}
    for (height, width), refused in SHAPES.items():
        name = f"img_{height}x{width}.png"
        (folder / name).write_bytes(_png((height, width)))
        names[name] = refused
    code = cli.main(["predict", "--checkpoint", str(checkpoint), str(folder), "--out", str(tmp_path / "out"),
                     "--backend", "torch", "--no-overlay"])  # fmt: skip
    assert code == 0
    written = {record["input"].rsplit("/", 1)[-1] for record in
               json.loads((tmp_path / "out" / "predictions.json").read_text())["images"]}  # fmt: skip
    assert written == {name for name, refused in names.items() if not refused}
    err = capsys.readouterr().err
    for name, refused in names.items():
        assert (f"{name}: a " in err and "too thin to segment" in err) == refused, name
