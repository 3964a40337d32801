"""One device choice for the whole package: CUDA, then MPS, then CPU."""

from __future__ import annotations

import torch

from segdash.errors import SegdashError


def choose_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to run on.

    ``preferred`` may be ``None`` or ``"auto"`` (best available), or an explicit
    ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``. Asking for a device that is
    not there raises ``SegdashError`` instead of failing later inside torch.
    """
    if isinstance(preferred, torch.device):
        preferred = str(preferred)
    if preferred in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preferred)
    except RuntimeError as exc:
        raise SegdashError(f"unknown device {preferred!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SegdashError(f"device {preferred!r} asked for, but no CUDA GPU is available: use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SegdashError(f"device {preferred!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SegdashError("device 'mps' asked for, but MPS is not available: use --device cpu")
    return device


def describe_device(device: torch.device) -> str:
    """A short human label: the GPU's name, or 'CPU'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"GPU: {torch.cuda.get_device_name(index)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
