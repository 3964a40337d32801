"""Segmentation losses: torch's cross-entropy (class weights, ignore index) and smp's Dice and focal losses.

    criterion = build_loss("ce+dice", num_classes=4, ignore_index=None, class_weights=None)
    loss = criterion(logits, target)   # logits (N,C,H,W) float, target (N,H,W) int64 -> scalar
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segdash.errors import SegdashError


class SumOfLosses(nn.Module):
    """``sum(loss(logits, target))`` over the parts (``ce+dice``)."""

    def __init__(self, *parts: nn.Module):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(part(logits, target) for part in self.parts)


def build_loss(
    name: str,
    num_classes: int,
    ignore_index: int | None,
    class_weights: Sequence[float] | None = None,
) -> nn.Module:
    """A loss module taking logits (N,C,H,W) float and targets (N,H,W) int64.

    ``class_weights`` (C,) weight the cross-entropy term only. Pixels equal to
    ``ignore_index`` count in no term. Dice is smp's soft multiclass Dice over
    all classes present in the batch.
    """
    from segmentation_models_pytorch import losses as smp_losses

    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(list(class_weights), dtype=torch.float32)
        if weight.numel() != num_classes:
            raise SegdashError(f"{weight.numel()} class weights given for {num_classes} classes")
    ce = nn.CrossEntropyLoss(weight=weight, ignore_index=-100 if ignore_index is None else int(ignore_index))
    if name == "ce":
        return ce
    dice = smp_losses.DiceLoss(mode="multiclass", from_logits=True, ignore_index=ignore_index)
    if name == "dice":
        return dice
    if name == "ce+dice":
        return SumOfLosses(ce, dice)
    if name == "focal":
        return smp_losses.FocalLoss(mode="multiclass", ignore_index=ignore_index)
    raise SegdashError(f"unknown loss {name!r}; choose one of: ce, dice, ce+dice, focal")
