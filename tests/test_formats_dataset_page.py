"""The Dataset page on each public layout, opened from the sidebar as a user would: folder path + format
(+ a class map), its table of pixels the counted ones, its sample browser drawing the ground truth."""

import numpy as np
import pytest

from test_app import _navigation_mode, app, assert_clean, open_tab, weights_dir  # noqa: F401
from test_formats_layouts import FORMATS, build

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.slow]


def open_folder(at, folder, fmt: str, options: str = ""):
    at.sidebar.selectbox(key="sd.dataset").set_value("Folder on disk…").run()
    at.sidebar.text_input(key="sd.dataset.path").set_value(str(folder)).run()
    at.sidebar.selectbox(key="sd.dataset.format").set_value(fmt).run()
    at.sidebar.text_input(key="sd.dataset.options").set_value(options).run()
    at.switch_page("pages/dataset.py").run()
    assert_clean(at)
    return at


def test_dataset_page_on_every_layout(app, tmp_path):  # noqa: F811
    for name in FORMATS:
        folder, expected = build(name, tmp_path)
        open_folder(app, folder, name)
        assert any(f"{len(expected[next(iter(expected))])} classes" in c.value for c in app.sidebar.caption), name
        table = app.dataframe[0].value
        first = next(split for split in expected if ":" not in split)
        np.testing.assert_array_equal(table["pixels"].to_numpy(), expected[first], err_msg=name)
        open_tab(app, "dataset.tab", "Samples")
        assert app.image, name  # one page of samples with their ground truth
        open_tab(app, "dataset.tab", "Class imbalance")


def test_dataset_page_follows_a_class_map(app, tmp_path):  # noqa: F811
    """Cityscapes' 19 classes merged into 7 categories by a class map: the page's table has the 7, with the
    pixels of their train classes added up."""
    from _layouts import CITYSCAPES_CATEGORY, CITYSCAPES_IGNORED_IN_EVAL

    folder, expected = build("cityscapes", tmp_path)
    (folder / "categories.csv").write_text(CATEGORY_MAP)
    open_folder(app, folder, "cityscapes", "class_map=categories.csv")
    table = app.dataframe[0].value
    assert list(table["class"]) == ["flat", "construction", "object", "nature", "sky", "human", "vehicle"]
    counts = np.zeros(7, np.int64)
    for ids in expected["train:ids"]:
        for label_id, n in zip(*np.unique(ids, return_counts=True)):
            if label_id not in CITYSCAPES_IGNORED_IN_EVAL:
                counts[CITYSCAPES_CATEGORY[label_id] - 1] += n
    np.testing.assert_array_equal(table["pixels"].to_numpy(), counts)


CATEGORY_MAP = """source,target
road,flat
sidewalk,flat
building,construction
wall,construction
fence,construction
pole,object
traffic light,object
traffic sign,object
vegetation,nature
terrain,nature
sky,sky
person,human
rider,human
car,vehicle
truck,vehicle
bus,vehicle
train,vehicle
motorcycle,vehicle
bicycle,vehicle
"""
