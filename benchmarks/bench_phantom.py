"""Benchmark: DermSynth rendering throughput (images per second) on ONE CPU core.

Run ``python benchmarks/bench_phantom.py [--json results.json]``. Thread pools are
limited to one thread before numpy is imported, so the figure is per core. The
throughput is computed from the process's CPU time (``time.process_time``), which
on one thread equals the time the core spent rendering and does not count time the
process waited for other processes on a busy machine; wall-clock throughput is printed beside it.
Exits with status 1 when the 64x64 throughput is below 2,000 images/s.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"  # must happen before numpy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from medgan_nb.data.phantom import render_phantoms  # noqa: E402

from common import write_json  # noqa: E402  (benchmarks/common.py)

SIZES = (28, 64, 128)
REQUIRED_64 = 2000.0  # images per second at 64x64 on one core


def measure(size: int, images: int, repeats: int = 3) -> dict[str, float]:
    """Return the best CPU-time and wall-clock throughput (images/s) of ``repeats`` renders at ``size``."""
    render_phantoms(min(images, 64), size=size, seed=0)  # warm caches (texture tile, interpolation matrices)
    best_cpu = best_wall = 0.0
    for repeat in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        render_phantoms(images, size=size, seed=repeat + 1)
        best_cpu = max(best_cpu, images / max(time.process_time() - cpu, 1e-9))
        best_wall = max(best_wall, images / max(time.perf_counter() - wall, 1e-9))
    return {"size": size, "images": images, "images_per_s_cpu": best_cpu, "images_per_s_wall": best_wall}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, optionally write JSON; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--images", type=int, default=2000, help="images per measurement at 28 and 64 px")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error("--images must be at least 1")

    rows = [measure(size, args.images if size <= 64 else max(1, args.images // 4)) for size in SIZES]
    print(f"{'size':>6} {'images':>7} {'img/s (cpu, 1 core)':>20} {'img/s (wall)':>13}")
    for row in rows:
        print(f"{row['size']:>6} {row['images']:>7} {row['images_per_s_cpu']:>20.0f} {row['images_per_s_wall']:>13.0f}")
    at_64 = next(row["images_per_s_cpu"] for row in rows if row["size"] == 64)
    passed = at_64 >= REQUIRED_64
    print(f"64x64: {at_64:.0f} img/s per core (required >= {REQUIRED_64:.0f}): {'ok' if passed else 'TOO SLOW'}")
    if args.json is not None:
        write_json(args.json, {"benchmark": "phantom_throughput", "threads": 1, "required_64": REQUIRED_64,
                               "passed": passed, "results": rows})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
