"""``python -m cuspid.design``: ``score`` end to end; every error is one line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from cuspid.design.cli import EXIT_BAD_INPUT, EXIT_NOT_AVAILABLE, EXIT_OK, main

# Two upper teeth (11 and 21) of four vertices each around x = -5 and x = 5, and gingiva.
VERTICES = np.array(
    [[0.0, -20, 0], [10, -20, 0], [-10, -20, 0]]
    + [[-5 + dx, dy, 0] for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    + [[5 + dx, dy, 0] for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
)
LABELS = [0, 0, 0] + [11] * 4 + [21] * 4
INSTANCES = [0, 0, 0] + [1] * 4 + [2] * 4


def _labels_file(path: Path, labels: list[int] = LABELS, instances: list[int] = INSTANCES) -> Path:
    path.write_text(json.dumps({"jaw": "upper", "labels": labels, "instances": instances}))
    return path


def _obj_file(path: Path, vertices: np.ndarray = VERTICES) -> Path:
    lines = [f"v {x} {y} {z}" for x, y, z in vertices]
    lines += ["f 1 2 3", "f 4 5 6", "f 8 9 10", "f 9 10 11"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def gt(tmp_path: Path) -> Path:
    return _labels_file(tmp_path / "gt.json")


@pytest.fixture
def scan(tmp_path: Path) -> Path:
    return _obj_file(tmp_path / "scan.obj")


def _one_error_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_score_table_with_mesh(gt: Path, scan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(gt), str(gt), "--mesh", str(scan)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "TSA" in out
    assert "exp(-TLA)" in out
    assert "score" in out
    assert "1.0000" in out
    assert "need vertex positions" not in out


def test_score_json_swapped_teeth(
    tmp_path: Path, gt: Path, scan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = [{11: 21, 21: 11}.get(v, v) for v in LABELS]
    pred = _labels_file(tmp_path / "pred.json", swapped)
    assert main(["score", str(pred), str(gt), "--mesh", str(scan), "--json"]) == EXIT_OK
    figures = json.loads(capsys.readouterr().out)
    assert figures["tsa"] == 1.0
    assert figures["tir"] == 0.0
    assert figures["exp_neg_tla"] == 1.0
    assert figures["score"] == pytest.approx(2 / 3)
    assert figures["dice"] == {"11": 0.0, "21": 0.0}
    assert figures["matching"] == "centroid"


def test_score_without_mesh_says_tla_needs_it(gt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(gt), str(gt)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "TLA and the score need vertex positions" in out
    assert "Dice per tooth" in out
    assert main(["score", str(gt), str(gt), "--json"]) == EXIT_OK
    figures = json.loads(capsys.readouterr().out)
    assert figures["tla"] is None
    assert figures["score"] is None
    assert figures["tir"] == 1.0


def test_score_end_to_end_as_a_module(tmp_path: Path, gt: Path, scan: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cuspid.design", "score", str(gt), str(gt), "--mesh", str(scan)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert "TIR" in done.stdout


def test_module_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cuspid.design", "score", str(tmp_path / "no.json"), "x.json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == EXIT_BAD_INPUT
    _one_error_line(done.stderr, "prediction file not found")


def _score_error(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    assert main(["score", *argv]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_error_line(captured.err, *fragments)


def test_score_missing_file(tmp_path: Path, gt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _score_error([str(gt), str(tmp_path / "missing.json")], capsys, "ground-truth file not found")


def test_score_unreadable_file(
    tmp_path: Path, gt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _score_error([str(tmp_path), str(gt)], capsys, "cannot read prediction file")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"jaw": "upper"}', "missing key"),
        ('{"jaw": "upper", "labels": [0, 11], "instances": [0]}', "differ in length"),
        ('{"jaw": "upper", "labels": [0, 36], "instances": [0, 1]}', "labels 36"),
    ],
)
def test_score_bad_labels(
    tmp_path: Path, gt: Path, content: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    _score_error([str(bad), str(gt)], capsys, "prediction file", fragment)


def test_score_mismatched_lengths(
    tmp_path: Path, gt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = _labels_file(tmp_path / "short.json", LABELS[:-1], INSTANCES[:-1])
    _score_error([str(short), str(gt)], capsys, "prediction has 10 vertices, ground truth 11")


def test_score_mesh_errors(tmp_path: Path, gt: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _score_error([str(gt), str(gt), "--mesh", str(tmp_path / "no.stl")], capsys, "scan not found")
    junk = tmp_path / "junk.stl"
    junk.write_bytes(b"\x00\x01 this is not a mesh")
    _score_error([str(gt), str(gt), "--mesh", str(junk)], capsys, "unreadable scan")
    small = _obj_file(tmp_path / "small.obj", VERTICES[:-1])
    small.write_text(small.read_text().replace("f 9 10 11\n", ""))
    _score_error([str(gt), str(gt), "--mesh", str(small)], capsys, "has 10 vertices")


@pytest.mark.parametrize("tooth", ["19", "0", "abc", "1.5"])
def test_propose_rejects_a_bad_tooth(
    scan: Path, tooth: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["propose", str(scan), "--tooth", tooth, "--out", "c.stl", "--report", "r.json"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "--tooth", "is not an FDI tooth number")


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["frobnicate"], ["segment"], ["score", "a.json"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == EXIT_BAD_INPUT
        _one_error_line(capsys.readouterr().err, "error:")


def test_a_scan_too_small_to_segment_is_refused_by_segment_and_propose(
    tmp_path: Path, scan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["segment", str(scan), "--out", str(tmp_path / "l.json")]) == EXIT_BAD_INPUT
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    argv = ["propose", str(scan), "--tooth", "11", "--out", str(tmp_path / "c.stl")]
    argv += ["--report", str(tmp_path / "r.json")]
    assert main([*argv, "--antagonist", str(scan)]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "cannot propose a crown for tooth 11", "segmented")
    assert not (tmp_path / "l.json").exists()
    assert not (tmp_path / "c.stl").exists()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cuspid.design.mesh import write_ply
    from cuspid.design.synth_prep import synth_preparation

    folder = tmp_path_factory.mktemp("prep")
    case = synth_preparation(8, 46, target_vertices=12_000)
    write_ply(case.scan, folder / "lower.ply")
    write_ply(case.antagonist, folder / "upper.ply")
    return folder / "lower.ply", folder / "upper.ply"


def test_propose_writes_a_watertight_crown_and_its_report(
    tmp_path: Path, prepared: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from cuspid.design.crown_report import CrownReport, open_edge_count
    from cuspid.design.mesh import read_mesh

    lower, upper = prepared
    crown, report = tmp_path / "crown.stl", tmp_path / "report.json"
    argv = ["propose", str(lower), "--tooth", "46", "--antagonist", str(upper), "--jaw", "lower"]
    assert main([*argv, "--out", str(crown), "--report", str(report)]) == EXIT_OK
    assert "crown for tooth 46 written to" in capsys.readouterr().out
    assert open_edge_count(read_mesh(crown)) == 0
    parsed = CrownReport.from_json(report.read_text())
    assert parsed.watertight
    assert parsed.material == "zirconia"
    assert len(parsed.contacts_mm) == 2
    # The clearance is the preparation's room under the antagonist (the synthetic occlusal
    # reduction is 1.5-1.9 mm); the occlusal contact is the crown's own gap to it.
    assert parsed.occlusal_clearance_mm is not None
    assert parsed.occlusal_clearance_mm >= 1.5
    assert parsed.occlusal_contact_mm is not None
    assert parsed.occlusal_contact_mm < parsed.occlusal_clearance_mm


def test_propose_errors_are_one_line(
    tmp_path: Path, prepared: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lower, _ = prepared
    out = ["--out", str(tmp_path / "c.stl"), "--report", str(tmp_path / "r.json")]
    assert main(["propose", str(lower), "--tooth", "16", "--jaw", "lower", *out]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "cannot propose a crown for tooth 16", "jaw")
    assert (
        main(["propose", str(lower), "--tooth", "46", "--material", "wood", *out]) == EXIT_BAD_INPUT
    )
    _one_error_line(capsys.readouterr().err, "unknown crown material")
    assert main(["propose", str(lower), "--tooth", "46", "--jaw", "upper", *out]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "tooth 46 is not in the upper jaw")
    bad_out = ["--out", str(tmp_path / "no" / "c.stl"), "--report", str(tmp_path / "r.json")]
    assert main(["propose", str(lower), "--tooth", "46", *bad_out]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "cannot write")


def test_segment_and_propose_reject_unreadable_scans(
    tmp_path: Path, scan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.ply"
    junk.write_text("ply\nformat nonsense\n")
    assert main(["segment", str(junk), "--out", "l.json"]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "unreadable scan", "junk.ply")
    assert main(["segment", str(tmp_path / "none.stl"), "--out", "l.json"]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "scan not found")
    argv = ["propose", str(scan), "--tooth", "11", "--out", "c.stl", "--report", "r.json"]
    assert main([*argv, "--antagonist", str(junk)]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "unreadable antagonist scan")


def test_synth_without_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cuspid.design.synth", None)  # import raises ImportError
    assert main(["synth", "--out", str(tmp_path / "s"), "--count", "2"]) == EXIT_NOT_AVAILABLE
    _one_error_line(capsys.readouterr().err, "not available", "cuspid.design.synth")


def test_synth_calls_the_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[Path, int, int]] = []
    fake = types.ModuleType("cuspid.design.synth")
    fake.write_synth = lambda out, count, seed: calls.append((out, count, seed))  # type: ignore[attr-defined]  # a stand-in module
    monkeypatch.setitem(sys.modules, "cuspid.design.synth", fake)
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--count", "3", "--seed", "7"]) == EXIT_OK
    assert calls == [(out, 3, 7)]
    assert out.is_dir()
    assert "wrote 3" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--count", "0"]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "--count must be at least 1")


def test_synth_write_failure_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(out: Path, count: int, seed: int) -> list[Path]:
        raise PermissionError(13, "Permission denied")

    fake = types.ModuleType("cuspid.design.synth")
    fake.write_synth = refuse  # type: ignore[attr-defined]  # a stand-in module
    monkeypatch.setitem(sys.modules, "cuspid.design.synth", fake)
    assert main(["synth", "--out", str(tmp_path)]) == EXIT_BAD_INPUT
    _one_error_line(capsys.readouterr().err, "cannot write to", "Permission denied")
