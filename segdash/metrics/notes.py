"""One-line definitions of the metrics, with the paper each comes from: the dashboard's tooltips.

    METRIC_NOTES["boundary_iou"]   # "Boundary IoU (Cheng et al., CVPR 2021): ..."
"""

from __future__ import annotations

METRIC_NOTES: dict[str, str] = {
    "iou": "IoU (Jaccard index): true positives / (true positives + false positives + false negatives), pixels of "
    "the whole split.",
    "boundary_iou": "Boundary IoU (Cheng et al., 'Boundary IoU: Improving Object-Centric Image Segmentation "
    "Evaluation', CVPR 2021): IoU of the bands along the class's ground-truth and predicted outlines, each band "
    "reaching d = 2% of the image diagonal inside its mask. Rewards a better outline far more than mask IoU does.",
    "object_recall": "Object recall: share of the class's ground-truth objects (8-connected components, per "
    "image) of which at least half the pixels are predicted as the class - the lesion-wise view of BraTS.",
    "object_precision": "Object precision: 1 - share of the predicted objects of which less than half the pixels "
    "are the class in the ground truth (false objects).",
    "ece": "Expected calibration error (Guo et al., 'On Calibration of Modern Neural Networks', ICML 2017): pixels "
    "binned by confidence (15 equal bins), the pixel-weighted mean of |accuracy - mean confidence| over the bins; "
    "per class over the pixels predicted as that class. 0 = confidence means what it says.",
    "auroc": "Entropy AUROC for errors (after Hendrycks & Gimpel, ICLR 2017): the chance that a wrong pixel has a "
    "higher normalised entropy than a right one. 0.5 = uncertainty says nothing about the errors, 1 = it finds "
    "them all.",
    "overconfidence": "Mean confidence minus accuracy over the image's pixels: above 0 the model is surer than it "
    "is right.",
    "flip_label_change": "Share of pixels whose label changes between the flipped runs of test-time augmentation: "
    "how unstable the prediction is.",
}
