"""Segmentation benchmark on held-out synthetic arches (3DTeethSeg'22 metrics).

Run: ``.venv/bin/python bench/design_bench.py [--count N] [--first-seed S] [--true-jaw]``.
The default seeds (10_000 onwards) are held out: the segmenter was tuned on seeds 0..199
only (``bench/design_dev.py``). Half the upper arches take in the palate (``--no-palate``:
none). Imports only ``cuspid.design`` (no Django).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuspid.design.metrics import score_segmentation
from cuspid.design.segment import segment
from cuspid.design.synth import Jaw, SynthArch, synth_arch

BENCH_FIRST_SEED = 10_000


def bench_case(seed: int, *, with_palate: bool = True) -> SynthArch:
    """The synthetic arch of one bench seed: jaw, missing teeth, crowding, noise, holes,
    pose, resolution and (for half the upper arches, unless ``with_palate`` is false) a
    palate, all drawn from the seed."""
    rng = np.random.default_rng([seed, 99])
    jaw: Jaw = "upper" if rng.random() < 0.5 else "lower"
    quadrants = (1, 2) if jaw == "upper" else (3, 4)
    missing: list[int] = []
    for _ in range(int(rng.choice([0, 0, 1, 1, 2]))):
        fdi = int(10 * rng.choice(quadrants) + rng.integers(1, 8))
        if fdi not in missing:
            missing.append(fdi)
    target = int(rng.uniform(10_000, 150_000))
    noise = float(rng.uniform(0.0, 0.05))
    holes = int(rng.integers(0, 3))
    crowding = float(rng.choice([0.0, 0.0, 0.3, 0.6]))
    # Real upper scans often take in part of the palate, and sometimes not (drawn last, so
    # the other draws of a seed are as they were before palates existed).
    palate = jaw == "upper" and bool(rng.random() < 0.5) and with_palate
    return synth_arch(
        seed,
        jaw=jaw,
        missing=missing,
        target_vertices=target,
        pose=True,
        noise_mm=noise,
        holes=holes,
        crowding=crowding,
        palate=palate,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the mean metrics; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=BENCH_FIRST_SEED)
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument(
        "--true-jaw",
        action="store_true",
        help="pass the true jaw to the segmenter (isolates upper/lower detection errors)",
    )
    parser.add_argument(
        "--no-palate",
        action="store_true",
        help="no upper arch takes in the palate (the cases as they were before palates)",
    )
    args = parser.parse_args(argv)
    jaw_right = 0
    rows: list[tuple[float, float, float, float]] = []
    dice: dict[int, list[float]] = defaultdict(list)
    seconds = 0.0
    vertices = 0
    for seed in range(args.first_seed, args.first_seed + args.count):
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
        rows.append((result.tsa, result.exp_neg_tla, result.tir, result.score))
        for fdi, value in result.dice.items():
            dice[fdi].append(value)
        if args.verbose:
            print(
                f"seed {seed} {case.jaw:<5} n={case.mesh.vertex_count:>6} "
                f"TSA {result.tsa:.3f} expTLA {result.exp_neg_tla:.3f} TIR {result.tir:.3f} "
                f"score {result.score:.3f} jaw {'ok' if pred.jaw == case.jaw else 'WRONG'} "
                f"{elapsed:.2f}s"
            )
    table = np.asarray(rows)
    mean = table.mean(axis=0)
    print(
        f"cases            {len(rows)}"
        f" (seeds {args.first_seed}..{args.first_seed + args.count - 1})"
    )
    given = "given" if args.true_jaw else "detected"
    print(f"jaw              {given}, right on {jaw_right} of {len(rows)}")
    print(f"TSA              {mean[0]:.4f}")
    print(f"exp(-TLA)        {mean[1]:.4f}")
    print(f"TIR              {mean[2]:.4f}")
    print(f"score            {mean[3]:.4f}  (min {table[:, 3].min():.4f})")
    print(f"s per 100k vert  {seconds / vertices * 100_000:.2f}")
    print("Dice per tooth (FDI: mean over cases where present in GT or prediction):")
    for fdi in sorted(dice):
        print(f"  {fdi}  {np.mean(dice[fdi]):.4f}  (n={len(dice[fdi])})")
    print(f"mean Dice        {np.mean([np.mean(v) for v in dice.values()]):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
