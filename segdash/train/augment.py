"""Augmentation for segmentation with torchvision.transforms.v2.

The image travels as a ``tv_tensors.Image`` and the mask as a ``tv_tensors.Mask``
through one ``v2.Compose``: every geometric transform draws its parameters once
and applies them to both (nearest-neighbour for the mask, fill = ignore index
outside the image), while photometric transforms (brightness, contrast, blur)
touch the image only. Seed 000's recipe: flips and transposes, scale/crop, light
brightness/contrast, a little blur.

    augment = build_augmentation(ignore_index=255, orientation_free=False)
    image, mask = augment(image, mask)   # (C,H,W) uint8 or float in 0..1, (H,W) int
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2


class SegmentationAugmentation:
    """Random joint transform of an (image, mask) pair.

    image: (C, H, W) uint8 (0..255) or float32 (0..1; photometric jitter clips to
    that range, so images outside it get geometric transforms only).
    mask: (H, W) integer labels. Output sizes equal input sizes.
    """

    def __init__(self, ignore_index: int | None, orientation_free: bool = False, photometric: bool = True):
        fill = {tv_tensors.Image: 0, tv_tensors.Mask: 0 if ignore_index is None else int(ignore_index)}
        geometric: list[v2.Transform] = [v2.RandomHorizontalFlip(p=0.5)]
        if orientation_free:
            # With a horizontal flip, a vertical flip and a 90-degree turn cover all 8
            # flips/transposes of a square (seed 000's Transpose + Flip).
            geometric += [v2.RandomVerticalFlip(p=0.5), v2.RandomApply([v2.RandomRotation((90, 90))], p=0.5)]
        geometric.append(
            v2.RandomApply([v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.85, 1.15), fill=fill)], p=0.7)
        )
        self.geometric = v2.Compose(geometric)
        self.photometric = (
            v2.Compose(
                [
                    v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=0.5),
                    v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.0))], p=0.1),
                ]
            )
            if photometric
            else None
        )

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image_tv, mask_tv = self.geometric(tv_tensors.Image(image), tv_tensors.Mask(mask))
        if self.photometric is not None and _photometric_safe(image_tv):
            image_tv = self.photometric(image_tv)
        return image_tv.as_subclass(torch.Tensor), mask_tv.as_subclass(torch.Tensor)


def _photometric_safe(image: torch.Tensor) -> bool:
    """v2's brightness/contrast assume uint8 0..255 or float 0..1 (they clip to it)."""
    if image.dtype == torch.uint8:
        return True
    return bool(image.min() >= 0 and image.max() <= 1)


def build_augmentation(ignore_index: int | None, orientation_free: bool = False) -> SegmentationAugmentation:
    return SegmentationAugmentation(ignore_index=ignore_index, orientation_free=orientation_free)
