"""Scoring throughput of the full GFA ensemble (features + liquidus estimate + 4 members).

Run: ``.venv/bin/python bench/bench_scoring.py [--n 1000000] [--jobs 2] [--modulus]``

* Model: the campaign's default :class:`discovery.models.GlassFormingModel` (GFA ensemble,
  default hyperparameters) fitted on the data vitrify ships (Sun 2017 binaries, 5,384
  featurizable rows), like a campaign's first retrain.
* Candidates: the first ``--n`` points of an enumerated 1 at.% grid of the Al-Cu-Ni-Ti-Zr
  (+Ag) space with 2-4 components (discovery.space.SearchSpace.iter_chunks), i.e. real
  campaign input, enumerated chunk by chunk while scoring (like agents.proposer).
* Timed: enumeration, then ``model.score`` on every chunk (features computed once per
  chunk and shared by all members), wall and process CPU time, and the rate.
  ``--modulus`` also attaches a modulus ensemble (the shipped literature).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discovery.evaluation import load_labelled_csv  # noqa: E402
from discovery.models import GlassFormingModel  # noqa: E402
from discovery.space import SearchSpace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2, help="scoring threads")
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--modulus", action="store_true", help="also predict Young's modulus (modulus ensemble)")
    args = parser.parse_args()

    data = load_labelled_csv(ROOT / "discovery" / "data" / "literature" / "sun2017_binary" / "glass_binary_v2.csv")
    t0, c0 = time.perf_counter(), time.process_time()
    model = GlassFormingModel().fit(data)
    fit_wall, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    if args.modulus:
        from discovery.modulus import ModulusEnsemble, load_modulus_data

        model.with_modulus(ModulusEnsemble(targets=("E",)).fit(load_modulus_data()))

    space = SearchSpace(elements=["Ag", "Al", "Cu", "Ni", "Ti", "Zr"], min_components=2, max_components=4, step=1.0)
    t0 = time.perf_counter()
    chunks, total = [], 0
    for chunk in space.iter_chunks(chunk_size=args.chunk):
        take = min(len(chunk), args.n - total)
        chunks.append(chunk if take == len(chunk) else chunk.take(np.arange(take)))
        total += take
        if total >= args.n:
            break
    enum_s = time.perf_counter() - t0

    # warm-up (first-call caches: element tables, pair tables)
    model.score(chunks[0].take(np.arange(100)), "melt-spinning")
    t0, c0 = time.perf_counter(), time.process_time()
    n_scored, best = 0, -np.inf
    for chunk in chunks:
        s = model.score(chunk, "melt-spinning", chunk_size=args.chunk // max(args.jobs, 1), n_jobs=args.jobs)
        n_scored += len(s.p_gfa)
        best = max(best, float(np.max(s.glass_probability)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    print(f"GFA ensemble ({', '.join(model.member_names)}) fitted on {model.n_train_} rows in {fit_wall:.1f} s "
          f"(CPU {fit_cpu:.1f} s)")
    print()
    print(f"{'step':<40}{'compositions':>14}{'wall s':>10}{'CPU s':>10}{'per s (wall)':>16}")
    print(f"{'enumerate (SearchSpace.iter_chunks)':<40}{total:>14,}{enum_s:>10.1f}{'':>10}{total / enum_s:>16,.0f}")
    label = f"score, {args.jobs} thread(s){' + modulus' if args.modulus else ''}"
    print(f"{label:<40}{n_scored:>14,}{wall:>10.1f}{cpu:>10.1f}{n_scored / wall:>16,.0f}")
    print()
    print(f"target: {args.n:,} compositions in < 60 s on 2 cores -> {'MET' if wall < 60 else 'MISSED'} ({wall:.1f} s); "
          f"max P(glass) {best:.3f}")


if __name__ == "__main__":
    main()
