"""Training: steps/s of segdash's quick preset against the plain loop of seeds 001 and 004.

    python benchmarks/bench_train.py                      # steps/s, 3 interleaved rounds
    python benchmarks/bench_train.py --quick
    python benchmarks/bench_train.py --time-to-quality    # also run the whole quick preset and score it

Both train the same model (the quick preset's Unet + offline-ImageNet EfficientNet-Lite0, 1 channel,
4 classes) at the same batch size and image size on the brain-mri train split.

Baseline, ported from the seeds: seed 004's ``Dataset`` (``np.load`` of an .npy image and mask per
sample, one-hot mask) with seed 001's per-sample PIL resize to the training size, a
``DataLoader(batch_size=B, shuffle=True)`` with no workers and no caching, and seed 004's
``fit`` step (zero_grad, forward, BCEWithLogitsLoss on the one-hot mask, backward, Adam step,
``loss.item()`` and the seed's per-step IoU).

Project: ``python -m segdash train brain-mri --epochs E --out RUN`` (the quick preset), timed
from the ``time`` stamps of its step lines in ``metrics.jsonl``. Both sides are measured the same
way: the intervals between consecutive steps of one epoch (start-up and validation excluded).
Bar (issue 5): >= 1.5x the baseline's steps/s on CPU.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO_ROOT, Report, make_parser, mode_name, pick, project_missing

STEPS_BAR = 1.5


# --- the seeds' loop, ported -------------------------------------------------------------


def export_npy_split(ds, split: str, folder: Path, limit: int | None = None) -> tuple[list[Path], list[Path]]:
    """Write a split (its first ``limit`` samples) as seed 004's layout: ``MRIs/mri_<ix>.npy`` (H,W float32),
    ``Segmentations/segm_<ix>.npy`` (H,W uint8)."""
    (folder / "MRIs").mkdir(parents=True, exist_ok=True)
    (folder / "Segmentations").mkdir(parents=True, exist_ok=True)
    images, masks = [], []
    for index, (image, mask, _) in enumerate(ds.iter_samples(split, ds.ids(split)[:limit])):
        images.append(folder / "MRIs" / f"mri_{index}.npy")
        masks.append(folder / "Segmentations" / f"segm_{index}.npy")
        np.save(images[-1], image[:, :, 0].astype(np.float32))
        np.save(masks[-1], mask.astype(np.uint8))
    return images, masks


def seed_dataset(image_paths: list[Path], mask_paths: list[Path], n_classes: int, size: int):
    """Seed 004's Dataset, with seed 001's PIL resize to the training size."""
    import torch
    from PIL import Image

    class Dataset(torch.utils.data.Dataset):
        def __init__(self, X, y, n_classes=3):
            self.X = X
            self.y = y
            self.n_classes = n_classes

        def __len__(self):
            return len(self.X)

        def __getitem__(self, ix):
            img = np.load(self.X[ix])
            mask = np.load(self.y[ix])
            img = np.array(Image.fromarray(img).resize((size, size), Image.BILINEAR))
            mask = np.array(Image.fromarray(mask).resize((size, size), Image.NEAREST))
            img = torch.tensor(img).unsqueeze(0)
            mask = (np.arange(self.n_classes) == mask[..., None]).astype(np.float32)
            return img, torch.from_numpy(mask).permute(2, 0, 1)

    return Dataset(image_paths, mask_paths, n_classes)


def seed_iou(outputs, labels):
    """Seed 004's per-step IoU (sigmoid > 0.5 against the one-hot mask, background skipped)."""
    import torch

    outputs, labels = torch.sigmoid(outputs) > 0.5, labels > 0.5
    smooth = 1e-6
    _, n, _, _ = outputs.shape
    ious = []
    for i in range(n - 1):
        _out, _labs = outputs[:, i, :, :], labels[:, i, :, :]
        intersection = (_out & _labs).float().sum((1, 2))
        union = (_out | _labs).float().sum((1, 2))
        ious.append(((intersection + smooth) / (union + smooth)).mean().item())
    return np.mean(ious)


def seed_loop_step_times(model, dataloader, steps: int, device, lr: float = 3e-4) -> list[float]:
    """Seed 004's ``fit`` training steps; returns the interval (s) between consecutive steps."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.BCEWithLogitsLoss()
    model.to(device)
    model.train()
    stamps = []
    train_loss, train_iou = [], []
    while len(stamps) <= steps:
        for imgs, masks in dataloader:
            imgs, masks = imgs.to(device), masks.to(device)
            optimizer.zero_grad()
            y_hat = model(imgs)
            loss = criterion(y_hat, masks)
            loss.backward()
            optimizer.step()
            ious = seed_iou(y_hat, masks)
            train_loss.append(loss.item())
            train_iou.append(ious)
            stamps.append(time.time())
            if len(stamps) > steps:
                break
    return list(np.diff(stamps))


# --- the project's run -------------------------------------------------------------------


def run_segdash_train(run_dir: Path, extra: list[str], timeout: float = 1800) -> tuple[dict, float]:
    """Run ``python -m segdash train brain-mri ...``; return (run.json, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-m", "segdash", "train", "brain-mri", "--out", str(run_dir), *extra],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=str(REPO_ROOT),
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"segdash train failed ({proc.returncode}): {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads((run_dir / "run.json").read_text()), cpu


def step_intervals(run_dir: Path) -> list[float]:
    """Intervals between consecutive step lines of the same epoch in ``metrics.jsonl``."""
    steps = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [s for s in steps if s.get("kind") == "step"]
    return [b["time"] - a["time"] for a, b in zip(steps, steps[1:]) if a["epoch"] == b["epoch"]]


def steps_per_second(intervals: list[float]) -> float:
    return 1.0 / statistics.median(intervals) if intervals else float("nan")


def test_mean_dice(checkpoint: Path) -> float | None:
    """Mean Dice over the non-background classes on the brain-mri test split (the preset's quality figure)."""
    from segdash.data import open_dataset
    from segdash.infer.evaluate import evaluate
    from segdash.infer.predictor import Predictor

    evaluation = evaluate(open_dataset("brain-mri"), "test", predictor=Predictor.from_checkpoint(checkpoint),
                          distances=False)
    dice = np.asarray(evaluation.scores.dice, dtype=float)[1:]  # NaN where a class is undefined
    return float(np.nanmean(dice)) if np.isfinite(dice).any() else None


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__.splitlines()[0])
    parser.add_argument("--time-to-quality", action="store_true",
                        help="also run the whole quick preset and score its best checkpoint on the test split")
    parser.add_argument("--quality-only", action="store_true",
                        help="only the whole quick-preset run (implies --time-to-quality; no steps/s rounds)")
    parser.add_argument("--quality-run-dir", default=None,
                        help="keep the quick-preset run in this folder (default: a temporary one)")
    args = parser.parse_args(argv)
    args.time_to_quality = args.time_to_quality or args.quality_only
    import torch

    from segdash.data import open_dataset
    from segdash.device import choose_device

    device = choose_device(args.device)
    rounds = 0 if args.quality_only else args.repeats or pick(args, 3, 2, 1)
    try:
        from segdash.train.config import TrainConfig

        preset = TrainConfig.from_preset("quick")
        batch, size, arch, encoder = preset.batch_size, preset.img_size, preset.arch, preset.encoder
        pretrained = preset.pretrained
    except ImportError as exc:
        preset = None
        batch, size, arch, encoder, pretrained = 16, 128, "Unet", "tu-tf_efficientnet_lite0", None
        project_missing(Report("train"), "segdash.train", exc)
    if args.smoke:
        batch, size, pretrained = 4, 64, None
    project_epochs = 1  # 14 steps of the 220 train slices at batch 16; validation is not timed
    baseline_steps = pick(args, 10, 6, 2)
    report = Report("train", {"batch_size": batch, "img_size": size, "model": f"{arch} + {encoder}",
                              "rounds": rounds, "baseline_steps_per_round": baseline_steps,
                              "project_epochs_per_round": project_epochs, "mode": mode_name(args),
                              "torch_threads": torch.get_num_threads()}, device=str(device))
    ds = open_dataset("brain-mri")
    from segdash.models.registry import create_model

    with tempfile.TemporaryDirectory(prefix="segdash-bench-train-") as tmp:
        tmp = Path(tmp)
        image_paths, mask_paths = export_npy_split(ds, "train", tmp / "npy", limit=8 if args.smoke else None)
        loader = torch.utils.data.DataLoader(seed_dataset(image_paths, mask_paths, ds.num_classes, size),
                                             batch_size=batch, shuffle=True,
                                             pin_memory=device.type == "cuda")
        baseline_rates, project_rates = [], []
        can_run_project = preset is not None and not args.smoke
        for round_index in range(rounds):
            torch.manual_seed(round_index)
            model = create_model(arch, encoder, in_channels=ds.in_channels, num_classes=ds.num_classes,
                                 pretrained=pretrained)
            intervals = seed_loop_step_times(model, loader, baseline_steps, device)
            baseline_rates.append(steps_per_second(intervals))
            print(f"[train] round {round_index + 1}: seed loop {baseline_rates[-1]:.3f} steps/s", flush=True)
            if can_run_project:
                run_dir = tmp / f"run_{round_index}"
                try:
                    run_segdash_train(run_dir, ["--epochs", str(project_epochs), "--seed", str(round_index)])
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    report.note(f"segdash train did not run: {exc}")
                    can_run_project = False
                    continue
                project_rates.append(steps_per_second(step_intervals(run_dir)))
                print(f"[train] round {round_index + 1}: segdash quick preset {project_rates[-1]:.3f} steps/s",
                      flush=True)
        if args.smoke:
            report.note("smoke mode: only the seed loop ran (the project run is a separate process)")

        if baseline_rates:
            baseline = statistics.median(baseline_rates)
            row = {"case": f"batch {batch}, {size}x{size}", "seed_loop_steps_per_s": baseline,
                   "seed_loop_images_per_s": baseline * batch}
            report.params.update(seed_loop_steps_per_s_by_round=baseline_rates,
                                 segdash_steps_per_s_by_round=project_rates)
            if project_rates:
                project = statistics.median(project_rates)
                row.update(segdash_steps_per_s=project, segdash_images_per_s=project * batch,
                           speedup=project / baseline)
                report.add_check("quick preset steps/s vs seeds' plain loop (CPU)" if device.type == "cpu"
                                 else "quick preset steps/s vs seeds' plain loop", project / baseline, STEPS_BAR)
            report.add_row(**row)

        if args.time_to_quality and preset is not None:
            run_dir = Path(args.quality_run_dir) if args.quality_run_dir else tmp / "quality"
            start = time.perf_counter()
            run_json, cpu_seconds = run_segdash_train(run_dir, [], timeout=3 * 3600)
            wall = time.perf_counter() - start
            best = (run_json.get("best") or {}).get("path")
            best_path = Path(best) if best else run_dir / "checkpoints" / "best"
            if not best_path.is_absolute():
                best_path = run_dir / best_path
            dice = test_mean_dice(best_path)
            report.add_row(case=f"quick preset, {preset.epochs} epochs, whole run", wall_s=wall,
                           cpu_s=cpu_seconds, train_seconds=run_json.get("seconds"),
                           test_mean_dice_fg=dice)
            report.add_check("quick preset test mean Dice (CSF, GM, WM)", dice, 0.80, unit="")
            report.add_check("quick preset CPU time to reach it", cpu_seconds / 60, 5.0, higher_is_better=False,
                             unit=" min")
    report.name = "train_quality" if args.quality_only else report.name
    report.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
