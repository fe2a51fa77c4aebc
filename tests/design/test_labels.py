"""The labels JSON: round trips and every validation path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cuspid.design.labels import (
    FDI_BY_JAW,
    VALID_FDI,
    InvalidLabels,
    SegmentationResult,
    jaw_of_fdi,
    parse_fdi,
    read_labels,
    write_labels,
)

UPPER = {"jaw": "upper", "labels": [0, 11, 11, 21, 0], "instances": [0, 1, 1, 2, 0]}


def _text(**changes: object) -> str:
    return json.dumps({**UPPER, **changes})


def test_fdi_sets() -> None:
    assert sorted(FDI_BY_JAW["upper"]) == [*range(11, 19), *range(21, 29)]
    assert sorted(FDI_BY_JAW["lower"]) == [*range(31, 39), *range(41, 49)]
    assert len(VALID_FDI) == 32


def test_round_trip_through_json_and_files(tmp_path: Path) -> None:
    result = SegmentationResult.from_json(_text())
    assert result.jaw == "upper"
    assert result.vertex_count == 5
    assert result.labels.dtype == np.int64
    again = SegmentationResult.from_json(result.to_json())
    np.testing.assert_array_equal(again.labels, result.labels)
    np.testing.assert_array_equal(again.instances, result.instances)
    path = tmp_path / "labels.json"
    write_labels(path, result)
    assert json.loads(path.read_text()) == UPPER
    assert read_labels(path).jaw == "upper"


def test_challenge_files_with_extra_keys_are_accepted() -> None:
    result = SegmentationResult.from_json(json.dumps({**UPPER, "id_patient": "X"}).encode())
    assert result.vertex_count == 5


def test_numpy_arrays_are_accepted() -> None:
    result = SegmentationResult("lower", np.array([0, 36], np.int32), np.array([0, 4]))
    assert result.labels.dtype == np.int64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        (b"\xff\xfe\xfa", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"jaw": "upper", "labels": []}), "missing key.*instances"),
        (_text(jaw="left"), "jaw must be 'upper' or 'lower'"),
        (_text(labels=[0, 11, 11, 21]), r"differ in length \(4 vs 5\)"),
        (_text(labels=[0, 31, 31, 21, 0]), "labels 31 are not 0 or an FDI number of the upper"),
        (_text(labels=[0, 19, 19, 21, 0]), "labels 19 are not"),
        (_text(labels="0,11"), "labels must be a list"),
        (_text(labels=[0, 11.0, 11, 21, 0]), "integers only, found 11.0"),
        (_text(labels=[0, 11, 11, 21, None]), "integers only, found None"),
        (_text(instances=[0, True, 1, 2, 0]), "integers only, found True"),
        (_text(instances=[0, -1, 1, 2, 0]), "instances must be >= 0, found -1"),
        (_text(instances=[0, 1, 1, 1, 0]), r"instance 1 carries several labels \[11, 21\]"),
        (_text(instances=[0, 0, 1, 2, 0]), "vertex 1: label 11 with instance 0"),
        (_text(instances=[3, 1, 1, 2, 0]), "vertex 0: label 0 with instance 3"),
    ],
)
def test_invalid_files_are_rejected_with_a_clear_message(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidLabels, match=message):
        SegmentationResult.from_json(text)


def test_invalid_arrays_are_rejected() -> None:
    with pytest.raises(InvalidLabels, match="one-dimensional"):
        SegmentationResult("upper", np.zeros((2, 2), np.int64), np.zeros(4, np.int64))
    with pytest.raises(InvalidLabels, match="must hold integers"):
        SegmentationResult("upper", np.zeros(2), np.zeros(2, np.int64))  # type: ignore[arg-type]  # floats on purpose
    with pytest.raises(InvalidLabels, match="jaw must be"):
        SegmentationResult("both", np.zeros(2, np.int64), np.zeros(2, np.int64))  # type: ignore[arg-type]  # invalid on purpose


def test_invalid_labels_is_a_value_error() -> None:
    assert issubclass(InvalidLabels, ValueError)


def test_vertex_count_check() -> None:
    result = SegmentationResult.from_json(_text())
    result.require_vertex_count(5)
    with pytest.raises(InvalidLabels, match="5 labels for a scan of 6 vertices"):
        result.require_vertex_count(6)


@pytest.mark.parametrize(("text", "fdi"), [("11", 11), (" 48 ", 48), ("36", 36), ("28", 28)])
def test_parse_fdi_accepts_permanent_teeth(text: str, fdi: int) -> None:
    assert parse_fdi(text) == fdi


@pytest.mark.parametrize("text", ["19", "10", "0", "51", "-11", "1.5", "x", ""])
def test_parse_fdi_rejects_anything_else(text: str) -> None:
    with pytest.raises(InvalidLabels, match="is not an FDI tooth number"):
        parse_fdi(text)


def test_jaw_of_fdi() -> None:
    assert jaw_of_fdi(17) == "upper"
    assert jaw_of_fdi(26) == "upper"
    assert jaw_of_fdi(31) == "lower"
    assert jaw_of_fdi(47) == "lower"
