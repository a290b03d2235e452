r"""Training speed of every loss family of the zoo, side by side in one run, relative to the plain DCGAN step.

Every family of :data:`medgan_nb.experiments.loss_zoo.LOSS_ZOO` (non-saturating
DCGAN, LSGAN, WGAN with clipping, WGAN-GP, hinge + spectral norm, R1) trains
through :func:`medgan_nb.train.train_gan` with its registry settings on the
same random images, the same backbone size and batch size. Each family is
timed ``--repeats`` times, the order reversed on every other repeat
(A B C ... C B A ...), so that a change in the machine's load hits all of them.
Reported per family: milliseconds per generator step (median over repeats),
the images per second that pass through the discriminator (batch size ×
n_critic per step, what the engine reports) and the generator steps per
second, each as a ratio to the DCGAN step. The ratios show what the loss
costs by itself: :math:`n_{critic} = 5` multiplies the critic work, a gradient
penalty or R1 adds a second backward pass, spectral normalisation a power
iteration.

Usage::

    python benchmarks/bench_losses.py [--image-size 32] [--width 32] [--batch-size 32] [--steps 10] [--repeats 2] [--json F]

or from Python: ``measure_losses(image_size=32, width=32, batch_size=32)``.
"""
from __future__ import annotations

import statistics

import torch

from medgan_nb.experiments.loss_zoo import LOSS_ZOO, train_zoo_member

from common import interleaved, resolve_precision, timing_parser, write_json  # benchmarks/common.py

REFERENCE = "dcgan"


def time_family(name: str, images: torch.Tensor, image_size: int, width: int, batch_size: int, steps: int,
                device: str | None, amp: str) -> tuple[float, float]:
    """Return (seconds per generator step, images per second through D) of ``steps`` steps after a 1-step warm-up."""
    options = dict(width=width, batch_size=batch_size, seed=0, device=device, amp=amp,
                   progress=False)
    train_zoo_member(name, images, steps=1, **options)  # warm-up: allocator, kernels, spectral norm's first iterations
    result = train_zoo_member(name, images, steps=steps, **options)
    return result.seconds / steps, result.images_per_second


def measure_losses(image_size: int = 32, width: int = 32, batch_size: int = 32, steps: int = 10, repeats: int = 2,
                   names: tuple[str, ...] = LOSS_ZOO, device: str | None = None, amp: str = "off",
                   verbose: bool = True) -> dict:
    """Return each family's ms per step, images/s and ratios to the DCGAN step; print a table if verbose."""
    if REFERENCE not in names:
        raise ValueError(f"names must include the reference family {REFERENCE!r}, got {list(names)}")
    images = torch.rand(max(4 * batch_size, 256), 3, image_size, image_size) * 2 - 1
    seconds: dict[str, list[float]] = {name: [] for name in names}
    throughput: dict[str, list[float]] = {name: [] for name in names}
    for _, name in interleaved(names, repeats):  # order A B C ..., then ... C B A, so load changes hit every family
        per_step, images_per_second = time_family(name, images, image_size, width, batch_size, steps, device, amp)
        seconds[name].append(per_step)
        throughput[name].append(images_per_second)
    reference = statistics.median(seconds[REFERENCE])
    reference_images = statistics.median(throughput[REFERENCE])
    families = {}
    for name in names:
        per_step, images_per_second = statistics.median(seconds[name]), statistics.median(throughput[name])
        families[name] = {"ms_per_step": 1000 * per_step, "images_per_second": images_per_second,
                          "steps_per_second_vs_dcgan": reference / per_step,
                          "images_per_second_vs_dcgan": images_per_second / reference_images,
                          "runs_ms_per_step": [1000 * s for s in seconds[name]]}
    report = {"image_size": image_size, "width": width, "batch_size": batch_size, "steps": steps, "repeats": repeats,
              "device": device or "auto", "amp": amp, "torch_threads": torch.get_num_threads(),
              "reference": REFERENCE, "families": families}
    if verbose:
        print(f"loss families on the DCGAN backbone: {image_size} px, width {width}, batch {batch_size}, "
              f"{steps} steps x {repeats} repeats, torch threads {report['torch_threads']}, device {report['device']}")
        print(f"{'family':10}{'ms/step':>10}{'steps/s vs dcgan':>18}{'images/s':>10}{'images/s vs dcgan':>19}")
        for name, row in families.items():
            print(f"{name:10}{row['ms_per_step']:>10.1f}{row['steps_per_second_vs_dcgan']:>18.2f}"
                  f"{row['images_per_second']:>10.0f}{row['images_per_second_vs_dcgan']:>19.2f}")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the comparison from the command line; return 0."""
    parser = timing_parser(__doc__.split("\n")[0], image_size=32, batch_size=32, steps=10, repeats=2, width=32)
    parser.add_argument("--families", default=",".join(LOSS_ZOO), help="comma-separated, must include dcgan")
    args = parser.parse_args(argv)
    report = measure_losses(args.image_size, args.width, args.batch_size, args.steps, args.repeats,
                            tuple(name.strip() for name in args.families.split(",")), args.device, resolve_precision(args.amp, args.device))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
