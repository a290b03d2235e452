"""What the benchmark scripts share: the interleaved order of timed runs, the usual options and the JSON report.

A benchmark times two or more sides in one run and compares them. So that a
change in the machine's load hits every side alike, the sides run in rounds
whose order is reversed every other round (A B C, C B A, A B C, ...).

The scripts import this module as ``from common import ...``: run as
``python benchmarks/bench_x.py``, Python puts ``benchmarks/`` first on the
import path. It imports only the standard library, so that ``bench_phantom.py``
can still limit the thread pools before numpy is first imported.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path


def interleaved(sides: Sequence[str], repeats: int) -> Iterator[tuple[int, str]]:
    """Return the (round, side) pairs of ``repeats`` rounds over ``sides``, the order reversed every other round."""
    for repeat in range(repeats):
        for side in (sides if repeat % 2 == 0 else sides[::-1]):
            yield repeat, side


def timing_parser(description: str, *, image_size: int, batch_size: int, steps: int, repeats: int,
                  amp: str = "fastest", width: int | None = None) -> argparse.ArgumentParser:
    """Return a parser with a training-speed benchmark's usual options (--width only where a width is given)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--image-size", type=int, default=image_size)
    if width is not None:  # only where both sides build the same backbone at one width
        parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--steps", type=int, default=steps, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=repeats,
                        help="rounds over the sides (order reversed every other)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--amp", default=amp,
                        help='off, bf16, fp16, auto, or "fastest": time fp32 and bf16 on this CPU first and take the faster')
    parser.add_argument("--json", default=None, help="write the report here as JSON")
    return parser


def resolve_precision(amp: str, device: str | None) -> str:
    """Return the ``amp`` to benchmark with: "fastest" on a CPU becomes the faster of fp32 and bf16 here, printed."""
    if amp != "fastest":
        return amp
    import torch  # here, not at the top: bench_phantom.py limits the thread pools before torch is imported

    from medgan_nb.runtime import cpu_supports_bf16, fastest_cpu_precision

    if (device or ("cuda" if torch.cuda.is_available() else "cpu")) != "cpu":
        return "auto"  # the engine's choice on a GPU: bf16 where supported, else fp16 with a gradient scaler
    choice, seconds = fastest_cpu_precision()
    native = "native bf16" if cpu_supports_bf16() else "no native bf16 (no AVX512-BF16/AMX: bf16 is emulated)"
    print(f"precision: {'bf16' if choice == 'bf16' else 'fp32'} on this CPU ({native}; a small training step "
          f"took {seconds['off'] * 1e3:.1f} ms in fp32, {seconds['bf16'] * 1e3:.1f} ms in bf16)", flush=True)
    return choice


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (temporary file, then rename); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A rename within one folder is atomic: a reader sees the old report or the new one, never half of one.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)
    return path


def print_and_write(report: dict, print_report, json_path: str | Path | None) -> int:
    """Print ``report`` with ``print_report``, write it as JSON to ``json_path`` when given; return 0 (the exit status)."""
    print_report(report)
    if json_path:
        print(f"report written to {write_json(json_path, report)}")
    return 0


def step_clock(*marks: int) -> tuple[dict[int, float], object]:
    """Return (clock, callback): a train_gan callback that reads the clock at the given steps (on CUDA after a sync)."""
    import time

    clock: dict[int, float] = {}

    def read_clock(step: int, state) -> None:
        if step in marks:
            if state.device.type == "cuda":
                import torch  # here: this module imports only the standard library at the top

                torch.cuda.synchronize(state.device)
            clock[step] = time.perf_counter()

    return clock, read_clock
