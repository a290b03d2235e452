"""Benchmark: DermSynth texture, border softness and frequency content beside real HAM10000 (64 px).

Run ``python benchmarks/bench_texture.py [--json results.json]``. Renders
``render_phantoms(1050, size=64, seed=11)`` (150 images per class on average, default
artefacts), measures the figures of ``medgan_nb.metrics.texture`` (power-spectrum slope,
10-90% border width, GLCM contrast and homogeneity, Sobel gradient and grey standard
deviation inside the lesion and the skin) and prints their medians per class and for all
images beside the medians measured on real HAM10000 images (``HAM10000_TEXTURE``), with
the ratio phantom / real.
Exits with status 1 when a figure for all classes is off the real median by more than 20%,
or a per-class figure by more than 35%.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from medgan_nb.data.phantom import CLASS_NAMES, render_phantoms
from medgan_nb.metrics.texture import HAM10000_TEXTURE, compare_with_ham10000, texture_table

from common import write_json  # benchmarks/common.py

TOLERANCE_ALL = 0.20    # largest relative gap to the real median for all classes together
TOLERANCE_CLASS = 0.35  # ... and for one class (150 real images per class: noisier)


def main(argv: list[str] | None = None) -> int:
    """Measure the phantom's texture figures, print them beside the real ones, optionally write JSON; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--images", type=int, default=1050, help="phantoms to render (default 1050)")
    parser.add_argument("--seed", type=int, default=11, help="phantom seed (default 11)")
    args = parser.parse_args(argv)
    if args.images < len(CLASS_NAMES):
        parser.error(f"--images must be at least {len(CLASS_NAMES)} (one per class)")

    started = time.perf_counter()
    batch = render_phantoms(args.images, size=64, seed=args.seed)
    table = texture_table(batch.images, batch.masks, batch.labels, CLASS_NAMES)
    rows = compare_with_ham10000(table)
    for row in rows:
        tolerance = TOLERANCE_ALL if row["group"] == "all" else TOLERANCE_CLASS
        row["within"] = bool(abs(row["ratio"] - 1.0) <= tolerance)

    figures = list(HAM10000_TEXTURE["akiec"])
    print(f"DermSynth ({args.images} images, 64 px, seed {args.seed}) vs real HAM10000: phantom / real (ratio)")
    print(f"{'class':<7}" + "".join(f"{name:>24}" for name in figures))
    for group in (*CLASS_NAMES, "all"):
        cells = {row["figure"]: row for row in rows if row["group"] == group}
        line = "".join(
            f"{cells[name]['measured']:>9.3f} /{cells[name]['real']:>6.3f} ({cells[name]['ratio']:4.2f}){'' if cells[name]['within'] else '!'}"
            .rjust(24) for name in figures)
        print(f"{group:<7}{line}")
    skin = [row for row in rows if row["figure"].endswith("_skin")]
    print("skin (all): " + ", ".join(f"{row['figure']} {row['measured']:.3f} / {row['real']:.3f} ({row['ratio']:.2f})"
                                      for row in skin))
    passed = all(row["within"] for row in rows)
    print(f"within {TOLERANCE_ALL:.0%} (all classes) and {TOLERANCE_CLASS:.0%} (per class) of the real medians: "
          f"{'ok' if passed else 'NO (marked !)'}  [{time.perf_counter() - started:.1f} s]")
    if args.json is not None:
        write_json(args.json, {"benchmark": "phantom_texture", "images": args.images, "size": 64, "seed": args.seed,
                               "tolerance_all": TOLERANCE_ALL, "tolerance_class": TOLERANCE_CLASS,
                               "passed": passed, "rows": rows})
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
