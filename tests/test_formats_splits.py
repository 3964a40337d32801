"""seeded_split: deterministic, independent of input order, exact sizes, groups kept together."""

import pytest

from segdash.data.splits import seeded_split, split_counts
from segdash.errors import SegdashError


@pytest.mark.parametrize(
    "total, fractions, expected",
    [
        (10, (0.8, 0.1, 0.1), [8, 1, 1]),
        (6, (0.8, 0.1, 0.1), [4, 1, 1]),
        (3, (0.8, 0.1, 0.1), [1, 1, 1]),
        (2, (0.8, 0.1, 0.1), [2, 0, 0]),
        (3, (0.9, 0.1), [2, 1]),
        (5, (1.0, 0.0), [5, 0]),
        (0, (0.8, 0.2), [0, 0]),
        (7, (2, 1), [5, 2]),
    ],
)
def test_split_counts(total, fractions, expected):
    assert split_counts(total, fractions) == expected


def test_seeded_split_is_deterministic_and_order_free():
    ids = [f"img_{i:03d}" for i in range(100)]
    first = seeded_split(ids)
    assert list(first) == ["train", "val", "test"]
    assert [len(first[s]) for s in first] == [80, 10, 10]
    assert sorted(first["train"] + first["val"] + first["test"]) == ids
    assert seeded_split(list(reversed(ids))) == first
    assert seeded_split(ids, seed=1) != first
    # adding ids moves few old ones: most of the old val set stays in val
    grown = seeded_split(ids + [f"new_{i}" for i in range(10)])
    assert len(set(first["val"]) & set(grown["val"])) >= 7


def test_groups_stay_together():
    ids = [f"vol{v}_z{k:02d}" for v in range(5) for k in range(20)]
    parts = seeded_split(ids, (0.6, 0.2, 0.2), groups=lambda i: i.split("_")[0])
    volumes = {s: {i.split("_")[0] for i in parts[s]} for s in parts}
    assert [len(volumes[s]) for s in parts] == [3, 1, 1]
    assert not (volumes["train"] & volumes["val"]) and not (volumes["val"] & volumes["test"])


def test_bad_fractions():
    with pytest.raises(SegdashError, match="fractions"):
        seeded_split(["a"], (0.5, 0.5), names=("train",))
    with pytest.raises(SegdashError, match="non-negative"):
        seeded_split(["a"], (-1, 1), names=("a", "b"))


def test_evenly_spaced_is_the_one_meaning_of_a_subset():
    from segdash.data.splits import evenly_spaced, evenly_spaced_indices

    assert evenly_spaced_indices(10, 4) == [0, 3, 6, 9]  # first and last included
    assert evenly_spaced_indices(5, None) == evenly_spaced_indices(5, 9) == [0, 1, 2, 3, 4]
    assert evenly_spaced_indices(5, 0) == []
    for total in range(1, 40):
        for count in range(1, total + 1):
            picked = evenly_spaced_indices(total, count)
            assert len(set(picked)) == count and picked == sorted(picked)  # never a repeat
    assert evenly_spaced(["a", "b", "c"], 2) == ["a", "c"]
