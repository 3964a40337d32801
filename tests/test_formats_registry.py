"""Every registered format and built-in: wrong layouts and unknown options give a SegdashError, never a traceback."""

import pytest

from segdash.data import BUILTINS, FORMATS, get_builtin, get_format, list_builtins, list_formats, open_dataset
from segdash.errors import SegdashError

EXPECTED = {"oxford-pets", "carla", "kitti", "mri-npy", "folder", "voc", "nifti"}


def test_all_formats_registered_with_a_summary():
    assert EXPECTED <= set(FORMATS)
    assert all(entry.summary.strip() for entry in list_formats())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_empty_folder_says_what_was_expected(tmp_path, name):
    with pytest.raises(SegdashError, match="expected|Expected"):
        open_dataset(tmp_path, format=name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unknown_option_lists_the_valid_ones(tmp_path, name):
    with pytest.raises(SegdashError, match="no option.*colour.*valid options"):
        open_dataset(tmp_path, format=name, colour="red")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_documented_options_are_exactly_the_accepted_ones(tmp_path, name):
    """``options_help`` (what ``segdash datasets`` lists) is the list of valid options: no option is missing."""
    entry = get_format(name)
    assert entry.options_help, "every format documents its -o options"
    for key in entry.options_help:
        with pytest.raises(SegdashError) as caught:
            open_dataset(tmp_path, format=name, **{key: "0"})
        assert "has no option" not in str(caught.value)  # fails for the empty folder, not for the option


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_unknown_option_lists_the_valid_ones(name):
    with pytest.raises(SegdashError, match=f"dataset '{name}' has no option.*colour.*valid options"):
        open_dataset(name, colour="red")


def test_listing_is_sorted_with_the_default_builtin_first():
    assert [f.name for f in list_formats()] == sorted(FORMATS)
    names = [b.name for b in list_builtins()]
    assert names[0] == "brain-mri" and sorted(names) == sorted(BUILTINS)


@pytest.mark.parametrize(("lookup", "kind"), [(get_format, "formats"), (get_builtin, "built-ins")])
def test_a_wrong_name_lists_the_valid_ones(lookup, kind):
    with pytest.raises(SegdashError, match=f"unknown .*'nope'.*valid {kind}: .*"):
        lookup("nope")


def test_unknown_format_in_open_dataset_lists_the_valid_ones(tmp_path):
    with pytest.raises(SegdashError, match="valid formats: .*oxford-pets"):
        open_dataset(tmp_path, format="nope")
