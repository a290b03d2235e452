r"""Conditional GANs' training speed: cGAN, projection GAN and small BigGAN next to a plain DCGAN, in one run.

Every side runs :func:`medgan_nb.train.train_gan` with its family's recommended
settings (:func:`medgan_nb.train.family_config`) on networks built by the
registry (:func:`medgan_nb.models.build_family`) at the same image size, budget
and batch size, on the same random images and labels (the unconditional DCGAN
simply ignores the labels). The sides run in the order dcgan, cgan, projection,
biggan on even repeats and reversed on odd ones, so a change in the machine's
load hits every side. Reported: seconds per step (median over repeats), real
images per second, and each side's images/s relative to the DCGAN's.

Usage::

    python benchmarks/bench_conditional.py [--image-size 32] [--budget cpu] [--steps 10] [--repeats 2] [--json F]

or from Python: ``measure_conditional_speed(image_size=32, budget="cpu")``.
"""
from __future__ import annotations

import statistics

import torch

from medgan_nb.models import build_family
from medgan_nb.train import family_config, train_gan

from common import interleaved, resolve_precision, timing_parser, write_json  # benchmarks/common.py

SIDES = ("dcgan", "cgan", "projection", "biggan")


def seconds_per_step(name: str, images: torch.Tensor, labels: torch.Tensor, image_size: int, budget: str,
                     batch_size: int, steps: int, device: str | None, amp: str) -> float:
    """Return the wall seconds per step of ``steps`` training steps of one family (after one warm-up step)."""
    conditional = name != "dcgan"
    settings = dict(batch_size=batch_size, progress=False, device=device, amp=amp, seed=0, log_every=steps)
    options = {"num_classes": int(labels.max()) + 1} if conditional else {}
    for run_steps in (1, steps):  # the first run warms up the allocator and kernels
        torch.manual_seed(0)
        generator, discriminator = build_family(name, image_size=image_size, budget=budget, **options)
        result = train_gan(generator, discriminator, images, family_config(name, steps=run_steps, **settings),
                           labels=labels if conditional else None)
    return result.seconds / steps


def measure_conditional_speed(image_size: int = 32, budget: str = "cpu", batch_size: int = 32, steps: int = 10,
                              repeats: int = 2, device: str | None = None, amp: str = "off",
                              verbose: bool = True) -> dict:
    """Return seconds per step and images/s of each side and their ratio to the DCGAN; print a table if verbose."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(max(4 * batch_size, 256), 3, image_size, image_size, generator=generator) * 2 - 1
    labels = torch.randint(0, 7, (len(images),), generator=generator)
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for _, side in interleaved(SIDES, repeats):  # dcgan, cgan, projection, biggan; then the reverse; ...
        times[side].append(seconds_per_step(side, images, labels, image_size, budget, batch_size, steps,
                                            device, amp))
    seconds = {side: statistics.median(values) for side, values in times.items()}
    images_per_second = {side: batch_size / value for side, value in seconds.items()}
    relative = {side: images_per_second[side] / images_per_second["dcgan"] for side in SIDES}
    report = {"image_size": image_size, "budget": budget, "batch_size": batch_size, "steps": steps, "repeats": repeats,
              "device": device or "auto", "amp": amp, "torch_threads": torch.get_num_threads(),
              "seconds_per_step": seconds, "images_per_second": images_per_second,
              "images_per_second_relative_to_dcgan": relative, "runs": times}
    if verbose:
        print(f"{image_size} px, budget {budget} widths, batch {batch_size}, {steps} steps x {repeats} repeats, "
              f"torch threads {report['torch_threads']}, device {report['device']}, amp {amp}")
        print(f"{'side':12}{'ms / step':>12}{'images/s':>12}{'vs DCGAN':>10}   each run (ms / step)")
        for side in SIDES:
            runs = " / ".join(f"{t * 1e3:.0f}" for t in times[side])
            print(f"{side:12}{seconds[side] * 1e3:>12.1f}{images_per_second[side]:>12.1f}{relative[side]:>9.2f}x   {runs}")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the comparison from the command line; return 0."""
    parser = timing_parser(__doc__.split("\n")[0], image_size=32, batch_size=32, steps=10, repeats=2)
    parser.add_argument("--budget", default="cpu", help="registry budget that picks each family's width")
    args = parser.parse_args(argv)
    report = measure_conditional_speed(args.image_size, args.budget, args.batch_size, args.steps, args.repeats,
                                       args.device, resolve_precision(args.amp, args.device))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
