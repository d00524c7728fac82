"""CUDA/HIP/ROCR_VISIBLE_DEVICES parsing, with the CUDA runtime's rules."""

from __future__ import annotations

import pytest

from frugalml.measure._visible import (
    hip_visible,
    parse_visible,
    resolve_visible,
    uuid_prefix_match,
)

UUIDS = ["GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", "GPU-1b2c3d4e-0000-1111-2222-333344445555"]


def no_uuid(token: str) -> int | None:
    return None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", []),
        ("-1", []),
        ("0", [0]),
        ("1,0", [1, 0]),
        (" 0 , 2 ", [0, 2]),
        ("0,2,-1,1", [0, 2]),  # stops at the first invalid entry
        ("0,,1", [0]),
        ("GPU-8932f937,1", ["GPU-8932f937", 1]),
        ([3, "GPU-ab"], [3, "GPU-ab"]),
        ([1, -1, 2], [1]),
    ],
)
def test_parse_visible(value, expected):
    assert parse_visible(value) == expected


def test_unset_means_every_device():
    assert resolve_visible(None, 3, no_uuid) == [0, 1, 2]


def test_empty_means_no_device():
    assert resolve_visible([], 3, no_uuid) == []


def test_out_of_range_index_ends_the_list():
    assert resolve_visible([1, 5, 0], 2, no_uuid) == [1]


def test_repeated_device_ends_the_list():
    assert resolve_visible([1, 1, 0], 2, no_uuid) == [1]


def test_unknown_uuid_ends_the_list():
    assert resolve_visible([0, "GPU-ffff", 1], 2, no_uuid) == [0]


def test_uuid_entries_resolve_through_callback():
    resolved = resolve_visible(["GPU-1b2c", 0], 2, lambda t: uuid_prefix_match(t, UUIDS))
    assert resolved == [1, 0]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (UUIDS[0], 0),
        ("GPU-8932f937", 0),
        ("gpu-8932F937", 0),
        ("8932f937-d72c", 0),
        ("GPU-1", 1),
        ("GPU-", None),  # matches both: ambiguous
        ("GPU-ffff", None),
        ("", None),
    ],
)
def test_uuid_prefix_match(token, expected):
    assert uuid_prefix_match(token, UUIDS) == expected


def test_hip_visible_prefers_hip_over_cuda():
    env = {"HIP_VISIBLE_DEVICES": "1", "CUDA_VISIBLE_DEVICES": "0", "ROCR_VISIBLE_DEVICES": "2,3"}
    assert hip_visible(env) == ("2,3", "1")


def test_hip_visible_falls_back_to_cuda():
    assert hip_visible({"CUDA_VISIBLE_DEVICES": ""}) == (None, "")
    assert hip_visible({}) == (None, None)
