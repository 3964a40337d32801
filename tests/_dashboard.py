"""Helpers shared by the dashboard tests (test_app.py, test_browser.py)."""

from __future__ import annotations

from pathlib import Path


def save_random_checkpoints(root: Path) -> Path:
    """Two small brain-mri checkpoints with random weights under ``root``: ``unet/best`` and ``fpn/best``.

    MobileNetV2 encoders keep them small (about 9 MB each) and fast on a CPU; the
    dashboard tests need checkpoints that fit brain-mri, not good ones.
    """
    from segdash.data import open_dataset
    from segdash.models import CheckpointMeta, create_model, save_checkpoint
    from segdash.train.data import training_intensity

    ds = open_dataset("brain-mri")
    input_range, intensity = training_intensity(ds, "train", count=40)  # for the out-of-distribution hint
    for name, arch in (("unet", "Unet"), ("fpn", "FPN")):
        model = create_model(arch, "mobilenet_v2", in_channels=1, num_classes=ds.num_classes)
        meta = CheckpointMeta(
            arch=arch, encoder="mobilenet_v2", classes=list(ds.classes), colors=[tuple(c) for c in ds.colors],
            in_channels=1, normalization=ds.normalization, ignore_index=ds.ignore_index, dataset="brain-mri", epoch=1,
            input_range=input_range, intensity=intensity,
        )  # fmt: skip
        save_checkpoint(model, meta, root / name / "best")
    return root
