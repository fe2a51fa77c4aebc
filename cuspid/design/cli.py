"""The design engine's command line: ``python -m cuspid.design <command> ...``.

Commands: ``segment``, ``propose``, ``synth`` and ``score`` (``--help`` on each). Every error
is one line on standard error, never a traceback. Exit status: 0 success, 2 bad input or
usage, 3 the feature is not available (yet) in this installation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, NoReturn

import numpy as np
from numpy.typing import NDArray

from cuspid.design.labels import InvalidLabels, SegmentationResult, parse_fdi, read_labels
from cuspid.design.metrics import SegmentationScore, score_segmentation

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NOT_AVAILABLE = 3

PROG = "python -m cuspid.design"


class CommandError(Exception):
    """A command failed in a way the user can act on; ``str()`` is the one-line message."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (status 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def _fdi(text: str) -> int:
    """argparse type for ``--tooth``: an FDI tooth number."""
    try:
        return parse_fdi(text)
    except InvalidLabels as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _load_labels(path: Path, role: str) -> SegmentationResult:
    try:
        return read_labels(path)
    except FileNotFoundError:
        raise CommandError(f"{role} file not found: {path}") from None
    except OSError as error:
        raise CommandError(f"cannot read {role} file {path}: {error.strerror or error}") from None
    except InvalidLabels as error:
        raise CommandError(f"{role} file {path}: {error}") from None


def _load_vertices(path: Path, role: str) -> NDArray[np.float64]:
    """Read a scan with cuspid.design.mesh (imported here so the CLI starts without it)."""
    if not path.is_file():
        raise CommandError(f"{role} not found: {path}")
    try:
        mesh_module = importlib.import_module("cuspid.design.mesh")
    except ImportError:
        raise CommandError(
            "not available: mesh reading (cuspid.design.mesh) is not installed", EXIT_NOT_AVAILABLE
        ) from None
    try:
        mesh = mesh_module.read_mesh(path, name=path.name)
    except OSError as error:
        raise CommandError(f"cannot read {role} {path}: {error.strerror or error}") from None
    except ValueError as error:  # UnreadableMesh is a ValueError
        raise CommandError(f"unreadable {role} {path}: {error}") from None
    return np.asarray(mesh.vertices, dtype=np.float64)


def _format_table(result: SegmentationScore, out: IO[str]) -> None:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    rows = [
        ("TSA", fmt(result.tsa)),
        ("exp(-TLA)", fmt(result.exp_neg_tla)),
        ("TIR", fmt(result.tir)),
        ("score", fmt(result.score)),
        ("GT teeth", str(result.gt_teeth)),
        ("predicted teeth", str(result.pred_teeth)),
        ("matching", result.matching),
    ]
    for name, value in rows:
        out.write(f"{name:<16}{value:>10}\n")
    if result.tla is None:
        out.write("TLA and the score need vertex positions: pass the scan with --mesh SCAN\n")
    if result.dice:
        out.write("Dice per tooth (FDI):\n")
        for fdi, dice in sorted(result.dice.items()):
            out.write(f"  {fdi:<14}{dice:>10.4f}\n")


def _cmd_score(args: argparse.Namespace, out: IO[str]) -> int:
    pred = _load_labels(args.pred, "prediction")
    gt = _load_labels(args.gt, "ground-truth")
    if pred.vertex_count != gt.vertex_count:
        raise CommandError(
            f"prediction has {pred.vertex_count} vertices, ground truth {gt.vertex_count}"
        )
    vertices = None
    if args.mesh is not None:
        vertices = _load_vertices(args.mesh, "scan")
        if vertices.shape[0] != gt.vertex_count:
            raise CommandError(
                f"scan {args.mesh} has {vertices.shape[0]} vertices, the labels {gt.vertex_count}"
            )
    result = score_segmentation(gt, pred, vertices)
    if args.json:
        out.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        _format_table(result, out)
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace, out: IO[str]) -> int:
    if args.count < 1:
        raise CommandError("--count must be at least 1")
    try:
        synth = importlib.import_module("cuspid.design.synth")
        write_synth: Callable[[Path, int, int], object] = synth.write_synth
    except (ImportError, AttributeError):
        raise CommandError(
            "not available: the synthetic generator (cuspid.design.synth) is not installed yet",
            EXIT_NOT_AVAILABLE,
        ) from None
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create {args.out}: {error.strerror or error}") from None
    try:
        written = write_synth(args.out, args.count, args.seed)
    except OSError as error:
        raise CommandError(f"cannot write to {args.out}: {error.strerror or error}") from None
    files = f", {len(written)} files" if isinstance(written, list) else ""
    out.write(f"wrote {args.count} synthetic case(s){files} to {args.out} (seed {args.seed})\n")
    return EXIT_OK


def _cmd_segment(args: argparse.Namespace, out: IO[str]) -> int:
    _load_vertices(args.scan, "scan")
    from cuspid.design.labels import write_labels
    from cuspid.design.mesh import read_mesh
    from cuspid.design.segment import SegmentationFailed, segment

    mesh = read_mesh(args.scan, name=args.scan.name)  # readable: _load_vertices checked it
    try:
        result = segment(mesh)
    except SegmentationFailed as error:
        raise CommandError(f"cannot segment {args.scan}: {error}") from None
    try:
        write_labels(args.out, result)
    except OSError as error:
        raise CommandError(f"cannot write {args.out}: {error.strerror or error}") from None
    teeth = len({int(v) for v in result.labels.tolist()} - {0})
    out.write(f"{result.jaw} jaw, {teeth} teeth, labels written to {args.out}\n")
    return EXIT_OK


def _cmd_propose(args: argparse.Namespace, out: IO[str]) -> int:
    _load_vertices(args.scan, "scan")
    if args.antagonist is not None:
        _load_vertices(args.antagonist, "antagonist scan")
    for target in (args.out, args.report):
        if not target.parent.is_dir():  # fail before the proposal's seconds of work
            raise CommandError(f"cannot write {target}: no such directory {target.parent}")
    from cuspid.design.mesh import read_mesh, write_stl
    from cuspid.design.propose import ProposalFailed, propose_crown

    scan = read_mesh(args.scan, name=args.scan.name)  # readable: _load_vertices checked it
    antagonist = None
    if args.antagonist is not None:
        antagonist = read_mesh(args.antagonist, name=args.antagonist.name)
    try:
        proposal = propose_crown(
            scan, args.tooth, antagonist=antagonist, jaw=args.jaw, material=args.material
        )
    except ProposalFailed as error:
        raise CommandError(f"cannot propose a crown for tooth {args.tooth}: {error}") from None
    try:
        write_stl(proposal.crown, args.out)
        args.report.write_text(proposal.report.to_json() + "\n", encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {error.filename}: {error.strerror or error}") from None
    warnings = ", ".join(proposal.report.warning_codes) or "none"
    out.write(
        f"crown for tooth {args.tooth} written to {args.out}, report to {args.report} "
        f"(warnings: {warnings})\n"
    )
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for ``--help`` rendering and tests)."""
    parser = _Parser(prog=PROG, description="Cuspid's AI-assisted design engine.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    segment = commands.add_parser("segment", help="label a scan's vertices by FDI tooth")
    segment.add_argument("scan", type=Path, metavar="SCAN", help="STL, PLY or OBJ scan")
    segment.add_argument("--out", type=Path, required=True, help="labels JSON to write")
    segment.set_defaults(run=_cmd_segment)

    propose = commands.add_parser("propose", help="propose a crown for one tooth position")
    propose.add_argument("scan", type=Path, metavar="SCAN", help="STL, PLY or OBJ scan")
    propose.add_argument("--tooth", type=_fdi, required=True, metavar="FDI", help="e.g. 36")
    propose.add_argument("--antagonist", type=Path, metavar="SCAN", help="opposing arch")
    propose.add_argument("--out", type=Path, required=True, help="crown STL to write")
    propose.add_argument("--report", type=Path, required=True, help="report JSON to write")
    propose.add_argument(
        "--material", default="zirconia", help="crown material (sets the clearance limit)"
    )
    propose.add_argument(
        "--jaw", choices=("upper", "lower"), help="the scan's jaw, when known (else detected)"
    )
    propose.set_defaults(run=_cmd_propose)

    synth = commands.add_parser("synth", help="generate labelled synthetic arches")
    synth.add_argument("--out", type=Path, required=True, help="output directory")
    synth.add_argument("--count", type=int, default=10, help="number of cases (default 10)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.set_defaults(run=_cmd_synth)

    score = commands.add_parser("score", help="3DTeethSeg'22 metrics of a prediction")
    score.add_argument("pred", type=Path, metavar="PRED.json", help="predicted labels")
    score.add_argument("gt", type=Path, metavar="GT.json", help="ground-truth labels")
    score.add_argument("--mesh", type=Path, metavar="SCAN", help="the scan (needed for TLA)")
    score.add_argument("--json", action="store_true", help="print JSON instead of a table")
    score.set_defaults(run=_cmd_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (0 ok, 2 bad input or usage, 3 unavailable).

    Errors are written as one line to standard error; argparse's usage errors exit through
    SystemExit(2) as usual.
    """
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace, IO[str]], int] = args.run
    try:
        return run(args, sys.stdout)
    except CommandError as error:
        sys.stderr.write(f"{PROG} {args.command}: error: {error}\n")
        return error.status
