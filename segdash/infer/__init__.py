"""Inference: run a model on images (``predictor``), export it (``onnx``), score it on a split (``evaluate``).

Import the submodules directly (``from segdash.infer.predictor import Predictor``);
this package keeps its import cheap.
"""
