"""Training: short runs that stream their curves to a run directory, and a reader for it.

    segdash train brain-mri --out runs/brain                 # command line (segdash.cli.train)

    from segdash.train import TrainConfig, train, start_run, read_run
    run_dir = start_run(TrainConfig(epochs=5))               # a detached ``python -m segdash train`` process
    state = read_run(run_dir)                                # status, epoch table, step losses, checkpoints

Modules: ``config`` (TrainConfig, presets), ``data`` (in-memory resized samples),
``augment`` (torchvision v2 joint image/mask transforms), ``losses``,
``trainer`` (the loop), ``distributed`` (torchrun/DDP), ``rundir`` (what a run
writes: the contract the dashboard reads), ``runs`` (the reader and launcher).
"""

from segdash.train.config import PRESETS, TrainConfig
from segdash.train.runs import RunState, default_runs_root, list_runs, read_run, request_stop, start_run


def train(*args, **kwargs):
    """``segdash.train.trainer.train`` (imported on first use: it pulls in torch and smp)."""
    from segdash.train.trainer import train as _train

    return _train(*args, **kwargs)


__all__ = [
    "PRESETS",
    "RunState",
    "TrainConfig",
    "default_runs_root",
    "list_runs",
    "read_run",
    "request_stop",
    "start_run",
    "train",
]
