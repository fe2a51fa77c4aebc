"""Crown proposal benchmark on held-out synthetic preparations.

Run: ``.venv/bin/python bench/crown_bench.py [--count N] [--first-seed S] [--no-antagonist]
[--true-labels]``. The default seeds (20_000 onwards) are held out: the proposal was tuned on
seeds below 100 only. Each case prepares one tooth (type and jaw drawn from the seed) of a
posed synthetic arch, proposes a crown from the scan alone (segmented by ``segment``,
unless ``--true-labels``; the jaw is given, as a lab knows which scan is which, unless
``--detect-jaw``) with the antagonist, and compares it with the known ideal crown
(Chamfer distance, ``metrics.chamfer_distance``). Imports only ``cuspid.design``.

Per case it prints the report's proximal contacts, the occlusal clearance (preparation to
antagonist: the room for the material, which the synthetic preparation's 1.5-1.9 mm
occlusal reduction sets), the occlusal contact (crown to antagonist, signed) and, for
comparison, the ideal crown's occlusal contact (``ideal``). The proposal aims at light
contact (``propose.OCCLUSAL_TARGET_MM``, 0.05 mm); the ideal crown is the original tooth of
an arch pair generated about 0.3 mm apart at the highest cusps (``synth.synth_pair``), so
it usually stands a little farther from the antagonist than the proposal: part of the
Chamfer distance with the antagonist is that difference, made on purpose.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuspid.design.crown_report import crown_report, open_edge_count, signed_volume
from cuspid.design.metrics import chamfer_distance
from cuspid.design.propose import ProposalFailed, propose_crown
from cuspid.design.synth_prep import SynthPreparation, synth_preparation

BENCH_FIRST_SEED = 20_000


def bench_case(seed: int) -> SynthPreparation:
    """The preparation of one bench seed: tooth, resolution and pose drawn from the seed."""
    rng = np.random.default_rng([seed, 77])
    quadrant = int(rng.integers(1, 5))
    position = int(rng.integers(1, 8))
    return synth_preparation(
        seed,
        10 * quadrant + position,
        target_vertices=int(rng.uniform(20_000, 60_000)),
        noise_mm=float(rng.uniform(0.005, 0.03)),
    )


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print per-case and summary figures; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=BENCH_FIRST_SEED)
    parser.add_argument("--no-antagonist", action="store_true", help="propose without it")
    parser.add_argument("--true-labels", action="store_true", help="give the true labels")
    parser.add_argument(
        "--detect-jaw", action="store_true", help="let the segmentation detect the jaw too"
    )
    args = parser.parse_args(argv)
    chamfers: list[float] = []
    occlusions: list[float] = []
    ideals: list[float] = []
    seconds: list[float] = []
    watertight = 0
    failures = 0
    warnings: Counter[str] = Counter()
    for seed in range(args.first_seed, args.first_seed + args.count):
        case = bench_case(seed)
        start = time.perf_counter()
        try:
            proposal = propose_crown(
                case.scan,
                case.tooth,
                antagonist=None if args.no_antagonist else case.antagonist,
                segmentation=case.segmentation if args.true_labels else None,
                jaw=None if args.detect_jaw else case.jaw,
            )
        except ProposalFailed as error:
            failures += 1
            print(f"seed {seed} tooth {case.tooth}: FAILED {error}")
            continue
        elapsed = time.perf_counter() - start
        seconds.append(elapsed)
        closed = open_edge_count(proposal.crown) == 0 and signed_volume(proposal.crown) > 0
        watertight += closed
        chamfer = chamfer_distance(proposal.crown, case.ideal_crown)
        chamfers.append(chamfer)
        warnings.update(proposal.report.warning_codes)
        report = proposal.report
        contacts = " ".join(f"{c:.2f}" for c in report.contacts_mm)
        ideal = None
        if not args.no_antagonist:
            ideal = crown_report(
                case.ideal_crown, margin=case.margin, antagonist=case.antagonist
            ).occlusal_contact_mm
        if report.occlusal_contact_mm is not None and ideal is not None:
            occlusions.append(report.occlusal_contact_mm)
            ideals.append(ideal)
        print(
            f"seed {seed} tooth {case.tooth} n={case.scan.vertex_count:>6} "
            f"chamfer {chamfer:.3f} mm  contacts [{contacts}] "
            f"clearance {_mm(report.occlusal_clearance_mm)} "
            f"occlusion {_mm(report.occlusal_contact_mm)} (ideal {_mm(ideal)}) "
            f"wall {_mm(report.min_wall_thickness_mm)} "
            f"{'watertight' if closed else 'OPEN'} {elapsed:.1f}s "
            f"{','.join(report.warning_codes) or '-'}"
        )
    done = len(chamfers)
    last = args.first_seed + args.count - 1
    print(f"cases            {args.count} (seeds {args.first_seed}..{last})")
    print(f"proposed         {done} ({failures} failed)")
    if done:
        print(f"median Chamfer   {np.median(chamfers):.3f} mm (mean {np.mean(chamfers):.3f})")
        print(f"watertight       {100.0 * watertight / done:.0f} %")
        if occlusions:
            print(
                f"occlusion        median {np.median(occlusions):.2f} mm "
                f"(range {min(occlusions):.2f}..{max(occlusions):.2f}; "
                f"ideal crown median {np.median(ideals):.2f})"
            )
        print(f"median seconds   {np.median(seconds):.2f} per proposal")
    print(
        "warnings         "
        + (", ".join(f"{k}: {v}" for k, v in sorted(warnings.items())) or "none")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
