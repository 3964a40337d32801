"""Inference: run a model on images (``predictor``), export it (``onnx``), score it on a split (``evaluate``: the
pass; ``evaluation``: its result, tables, JSON and files; ``protocol``: what the pass needs of a model), compare
models (``compare``).

Import the submodules directly (``from segdash.infer.predictor import Predictor``);
this package keeps its import cheap.
"""
