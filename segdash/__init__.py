"""segdash: show, judge and compare semantic-segmentation models.

The package follows the data's journey, one sub-package per stage:
``data -> models -> infer/train -> metrics -> viz -> ui``. Only ``segdash.ui``
imports Streamlit, so everything else works from a terminal or a notebook.
"""

__version__ = "0.1.0"

from segdash.errors import SegdashError

__all__ = ["SegdashError", "__version__"]
