"""Development runs of the segmenter on tuning seeds (never the held-out bench seeds).

Run: ``.venv/bin/python bench/design_dev.py --seeds 0-59 [--true-jaw] [--verbose]``.
Cases are drawn exactly as in ``bench/design_bench.py`` (``bench_case``), but seeds at or
above the bench's first held-out seed are refused, so tuning never sees them. With
``--verbose`` one line per case names the teeth that were missed or mislabelled.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from design_bench import BENCH_FIRST_SEED, bench_case

from cuspid.design.metrics import score_segmentation
from cuspid.design.segment import segment


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the dev cases and print mean metrics; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="0-39", help="e.g. 0-39 or 3,7,12-15")
    parser.add_argument("--true-jaw", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--no-palate", action="store_true")
    args = parser.parse_args(argv)
    seeds = _seeds(args.seeds)
    if any(s >= BENCH_FIRST_SEED for s in seeds):
        parser.error(f"seeds from {BENCH_FIRST_SEED} on are held out for the bench")
    rows = []
    jaw_right = 0
    seconds = 0.0
    vertices = 0
    for seed in seeds:
        case = bench_case(seed, with_palate=not args.no_palate)
        start = time.perf_counter()
        pred = segment(case.mesh, jaw=case.jaw if args.true_jaw else None)
        elapsed = time.perf_counter() - start
        seconds += elapsed
        vertices += case.mesh.vertex_count
        result = score_segmentation(case.segmentation(), pred, case.mesh.vertices)
        if result.exp_neg_tla is None or result.score is None:  # vertices were passed
            raise RuntimeError("score_segmentation returned no TLA")
        jaw_right += pred.jaw == case.jaw
        dice = np.mean(list(result.dice.values())) if result.dice else 1.0
        rows.append((result.tsa, result.exp_neg_tla, result.tir, result.score, dice))
        if args.verbose:
            gt = set(case.teeth)
            got = {int(f) for f in np.unique(pred.labels)} - {0}
            wrong = sorted(f for f in gt if result.dice.get(f, 0.0) < 0.6)
            print(
                f"seed {seed:>4} {case.jaw:<5} n={case.mesh.vertex_count:>6} "
                f"TSA {result.tsa:.3f} eTLA {result.exp_neg_tla:.3f} TIR {result.tir:.3f} "
                f"score {result.score:.3f} dice {dice:.3f} "
                f"jaw {'ok' if pred.jaw == case.jaw else 'WRONG'} {elapsed:.2f}s "
                f"missingGT {sorted(set(range(11, 48)) & (_all(case.jaw) - gt))} "
                f"extra {sorted(got - gt)} lost {sorted(gt - got)} bad {wrong}"
            )
    table = np.asarray(rows).mean(axis=0)
    print(
        f"n={len(rows)} jaw {jaw_right}/{len(rows)} TSA {table[0]:.4f} eTLA {table[1]:.4f} "
        f"TIR {table[2]:.4f} score {table[3]:.4f} dice {table[4]:.4f} "
        f"s/100k {seconds / vertices * 1e5:.2f}"
    )
    return 0


def _all(jaw: str) -> set[int]:
    quadrants = (1, 2) if jaw == "upper" else (3, 4)
    return {10 * q + p for q in quadrants for p in range(1, 8)}


if __name__ == "__main__":
    raise SystemExit(main())
