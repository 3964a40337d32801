"""Inference: segdash's Predictor against plain eager PyTorch, as the seeds run a model.

    python benchmarks/bench_inference.py              # both models, 256 and 512, batch 1 and 8
    python benchmarks/bench_inference.py --quick      # 256 only
    python benchmarks/bench_inference.py --device cuda

Models: the default (Unet + tu-tf_efficientnet_lite0, 1 channel, brain-mri classes; the shipped
checkpoint in weights/ when there is one, else a fresh model) and Unet + resnet34 (3 channels,
13 classes, fresh). Baseline: ``model.eval()``, ``torch.inference_mode()``, fp32, normalise +
``argmax(1)``, on a separate copy of the same weights; a second baseline takes the labels with
``max(1).indices`` (the same labels; argmax over the class dimension is slow on a CPU), so the
table also shows the ratio without that one call. Bars (issues 5 and 14): on CPU the project is
>= 1.5x eager at batch 1 and at batch 8 with identical labels on >= 99.9% of pixels; on CUDA mixed precision + channels_last is
>= 2x fp32 eager at batch 8, 512x512 (measured only when a GPU is present).
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from pathlib import Path

import numpy as np
from common import (
    REPO_ROOT,
    Report,
    cuda_synchronizer,
    make_parser,
    mode_name,
    pick,
    project_missing,
    repeats,
    speedup,
    time_interleaved,
)

AGREEMENT_BAR = 0.999


@dataclasses.dataclass
class ModelUnderTest:
    label: str
    model: object  # torch.nn.Module
    meta: object  # segdash.models.checkpoint.CheckpointMeta or None
    in_channels: int
    num_classes: int
    normalization: object  # segdash.data.base.Normalization
    source: str  # "weights/<dir>" or "fresh"


def shipped_default_checkpoint() -> Path | None:
    """The best shipped brain-mri checkpoint of the default architecture, if weights/ has one."""
    try:
        from segdash.models.checkpoint import find_checkpoints, read_meta
    except ImportError:
        return None
    candidates = []
    for path in find_checkpoints(REPO_ROOT / "weights"):
        meta = read_meta(path)
        if meta.dataset == "brain-mri" and meta.arch.lower() == "unet" and "lite0" in meta.encoder:
            candidates.append((0 if "best" in str(path) else 1, str(path), path))
    return sorted(candidates)[0][2] if candidates else None


def build_models(names: list[str]) -> list[ModelUnderTest]:
    """The models to time; each is built once and copied for the baseline so weights are identical."""
    import torch

    from segdash.data.base import Normalization

    torch.manual_seed(0)
    models = []
    for name in names:
        if name == "default":
            checkpoint = shipped_default_checkpoint()
            if checkpoint is not None:
                from segdash.models.checkpoint import load_checkpoint

                model, meta = load_checkpoint(checkpoint)
                # Same work on both sides: without this the Predictor would resize every image to the
                # checkpoint's training size (e.g. 192) while eager runs at 256 or 512.
                meta = dataclasses.replace(meta, input_size=None)
                models.append(ModelUnderTest("Unet-lite0 (shipped)", model, meta, meta.in_channels, meta.num_classes,
                                             meta.normalization, str(checkpoint.relative_to(REPO_ROOT))))
                continue
            arch, encoder, in_channels, classes = "Unet", "tu-tf_efficientnet_lite0", 1, 4
            normalization = Normalization.identity(1)
            label = "Unet-lite0 (fresh)"
        else:
            arch, encoder, in_channels, classes = "Unet", "resnet34", 3, 13
            normalization = Normalization.imagenet()
            label = "Unet-resnet34 (fresh)"
        model = make_model(arch, encoder, in_channels, classes)
        meta = make_meta(arch, encoder, in_channels, classes, normalization)
        models.append(ModelUnderTest(label, model.eval(), meta, in_channels, classes, normalization, "fresh"))
    return models


def make_model(arch: str, encoder: str, in_channels: int, classes: int):
    try:
        from segdash.models.registry import create_model

        return create_model(arch, encoder, in_channels=in_channels, num_classes=classes)
    except ImportError:
        import segmentation_models_pytorch as smp

        return getattr(smp, arch)(encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=classes)


def make_meta(arch: str, encoder: str, in_channels: int, classes: int, normalization):
    try:
        from segdash.models.checkpoint import CheckpointMeta
    except ImportError:
        return None
    return CheckpointMeta(
        arch=arch, encoder=encoder, classes=[f"class {i}" for i in range(classes)],
        colors=[(i * 19 % 256, i * 67 % 256, i * 131 % 256) for i in range(classes)],
        in_channels=in_channels, normalization=normalization, ignore_index=None, input_size=None,
        dataset="benchmark",
    )


def make_images(m: ModelUnderTest, size: int, batch: int, seed: int = 0) -> list[np.ndarray]:
    """``batch`` HxWxC images: brain-mri test slices resized to ``size`` for a 1-channel model
    (real structure, so a trained model's labels are meaningful), random uint8 RGB otherwise."""
    rng = np.random.default_rng(seed)
    if m.in_channels == 1:
        slices = brain_slices(batch)
        if slices is not None:
            import torch
            import torch.nn.functional as F

            stack = torch.from_numpy(np.stack(slices)).permute(0, 3, 1, 2)
            resized = F.interpolate(stack, size=(size, size), mode="bilinear", align_corners=False)
            return [np.ascontiguousarray(x) for x in resized.permute(0, 2, 3, 1).numpy()]
        return [rng.random((size, size, 1), dtype=np.float32) for _ in range(batch)]
    return [rng.integers(0, 256, (size, size, m.in_channels), dtype=np.uint8) for _ in range(batch)]


def brain_slices(count: int) -> list[np.ndarray] | None:
    try:
        from segdash.data import open_dataset

        ds = open_dataset("brain-mri")
        ids = ds.ids("test")
        step = max(1, len(ids) // count)
        return [ds.load("test", i).image.astype(np.float32) for i in ids[::step][:count]]
    except Exception:  # noqa: BLE001 - any failure: fall back to random images, said in the table
        return None


def eager_labels(model, images: list[np.ndarray], normalization, device, fast_argmax: bool = False) -> np.ndarray:
    """The baseline: how the seeds run a model. (N, H, W) int64 labels.

    ``fast_argmax``: the labels from ``max(1).indices`` instead of ``argmax(1)`` (same labels; on a CPU
    argmax over the class dimension costs 59 ms at batch 8, 192x192, max 3.5 ms): the baseline without
    the one slow call segdash avoids, so the ratio shows what the rest of segdash's path buys.
    """
    import torch

    x = np.stack([normalization.apply(image) for image in images])
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    with torch.inference_mode():
        logits = model(x)
        labels = logits.max(1).indices if fast_argmax else logits.argmax(1)
    return labels.cpu().numpy()


def project_labels_fn(predictor, images: list[np.ndarray]):
    """The project's user-facing path: ``predict`` for one image, ``predict_batch`` for several."""
    if len(images) == 1:
        return lambda: predictor.predict(images[0]).labels[None]
    return lambda: np.stack([p.labels for p in predictor.predict_batch(images)])


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=["default", "resnet34"], help="only these models")
    args = parser.parse_args(argv)
    import torch

    from segdash.device import choose_device, describe_device

    device = choose_device(args.device)
    sizes = pick(args, [256, 512], [256], [64])
    batches = pick(args, [1, 8], [1, 8], [1])
    model_names = args.models or pick(args, ["default", "resnet34"], ["default", "resnet34"], ["default"])
    reps = repeats(args, full=3, quick=2)
    report = Report("inference", {"sizes": sizes, "batches": batches, "repeats": reps, "mode": mode_name(args),
                                  "device": describe_device(device), "torch_threads": torch.get_num_threads()},
                    device=str(device))
    if device.type != "cuda":
        report.note("no CUDA GPU here: the CUDA bar (AMP + channels_last >= 2x fp32 at batch 8, 512x512) "
                    "was not measured; run with --device cuda on a GPU machine")
    try:
        from segdash.infer.predictor import Predictor
    except ImportError as exc:
        Predictor = None
        project_missing(report, "segdash.infer.predictor.Predictor", exc)

    sync = cuda_synchronizer(device)
    for m in build_models(model_names):
        baseline_model = copy.deepcopy(m.model).to(device).eval()
        predictor = Predictor(copy.deepcopy(m.model), m.meta, device=device) if Predictor else None
        notes = getattr(predictor, "notes", None)
        for size in sizes:
            for batch in batches:
                images = make_images(m, size, batch)

                def run_eager(baseline_model=baseline_model, images=images, m=m):  # this round's, not the last one's
                    out = eager_labels(baseline_model, images, m.normalization, device)
                    sync()
                    return out

                def run_eager_max(baseline_model=baseline_model, images=images, m=m):
                    out = eager_labels(baseline_model, images, m.normalization, device, fast_argmax=True)
                    sync()
                    return out

                candidates = {"eager fp32": run_eager, "eager fp32, max argmax": run_eager_max}
                if predictor is not None:
                    run_predictor = project_labels_fn(predictor, images)

                    def run_project(run_predictor=run_predictor):
                        out = run_predictor()
                        sync()
                        return out

                    candidates["segdash Predictor"] = run_project
                timings = time_interleaved(candidates, reps)
                row = dict(model=m.label, size=size, batch=batch,
                           eager_s=timings["eager fp32"].median,
                           eager_img_per_s=batch / timings["eager fp32"].median)
                if predictor is not None:
                    agreement = float(np.mean(np.asarray(candidates["segdash Predictor"]()) == run_eager()))
                    ratio = speedup(timings["eager fp32"], timings["segdash Predictor"])
                    row.update(project_s=timings["segdash Predictor"].median,
                               project_img_per_s=batch / timings["segdash Predictor"].median,
                               speedup=ratio, label_agreement=agreement,
                               eager_max_s=timings["eager fp32, max argmax"].median,
                               speedup_vs_eager_max=speedup(timings["eager fp32, max argmax"],
                                                            timings["segdash Predictor"]))
                    if batch in (1, 8) and device.type == "cpu":
                        report.add_check(f"{m.label} {size}x{size} b{batch}: Predictor vs eager (CPU)", ratio, 1.5)
                        report.add_check(f"{m.label} {size}x{size} b{batch}: identical labels", agreement * 100,
                                         AGREEMENT_BAR * 100, unit="%")
                    if batch == 8 and size == 512 and device.type == "cuda":
                        report.add_check(f"{m.label} 512x512 b8: AMP+channels_last vs fp32 (CUDA)", ratio, 2.0)
                report.add_row(**row)
                print(f"[inference] {report.printable(row, args.force)}", flush=True)
        if notes:
            report.note(f"{m.label}: predictor notes: {notes}")
        report.params.setdefault("models", []).append({"label": m.label, "source": m.source})
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
