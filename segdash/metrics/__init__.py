"""Scores of segmentations: confusion matrix, overlap scores, surface distances.

    from segdash.metrics import ConfusionMatrix, scores_from_confusion
"""
