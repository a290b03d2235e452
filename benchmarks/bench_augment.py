r"""DiffAugment overhead: one DCGAN training step with and without augmentation, side by side in one run.

Both sides run :func:`medgan_nb.train.train_gan` on the same DCGAN
(:func:`medgan_nb.models.dcgan.build_dcgan`, 64 px, width 32, batch 32 by
default) and the same random images; the augmented side adds
``TrainConfig(augment=DiffAugment(policy))``, which transforms every real and
fake batch D sees (three times per step: real, detached fake, fake for G's
step). The sides alternate in the order plain, augmented, augmented, plain, ...
so that a change in the machine's load hits both. Reported: seconds per step
of each side (median over repeats) and the ratio augmented / plain; and, as
a check that does not depend on two noisy timings, the time of the
augmentation work of one step alone (real, detached fake and fake batches
forward, the fake's backward) as a fraction of a plain step.

Usage::

    python benchmarks/bench_augment.py [--steps 20] [--repeats 4] [--policy color,translation,cutout] [--json F]

or from Python: ``measure_augment_overhead(image_size=64, width=32, batch_size=32)``.
"""
from __future__ import annotations

import statistics
import time

import torch

from medgan_nb.augment import DiffAugment
from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.train import TrainConfig, train_gan

from common import interleaved, resolve_precision, timing_parser, write_json  # benchmarks/common.py


def seconds_per_step(images: torch.Tensor, image_size: int, width: int, batch_size: int, steps: int,
                     augment, device: str | None, amp: str) -> float:
    """Return the wall seconds per step of ``steps`` DCGAN steps through train_gan (after one warm-up step)."""
    config = dict(batch_size=batch_size, progress=False, device=device, amp=amp, augment=augment, seed=0,
                  log_every=steps)
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=image_size, width=width)
    train_gan(generator, discriminator, images, TrainConfig(steps=1, **config))  # warm-up: allocator, kernels
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=image_size, width=width)
    result = train_gan(generator, discriminator, images, TrainConfig(steps=steps, **config))
    return result.seconds / steps


def augmentation_seconds_per_step(augment, batch_size: int, image_size: int, device: str | None,
                                  repeats: int = 30) -> float:
    """Return the median wall seconds of the augmentation work in one step: 3 batches forward, 1 backward."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    real = torch.rand(batch_size, 3, image_size, image_size, device=device) * 2 - 1
    fake = real.clone().requires_grad_(True)
    times = []
    for _ in range(repeats + 3):  # the first 3 are warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        augment(real), augment(fake.detach())  # D's step: real and detached fake
        augment(fake).sum().backward()  # G's step: gradient through T back to G(z)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times[3:])


def measure_augment_overhead(image_size: int = 64, width: int = 32, batch_size: int = 32, steps: int = 20,
                             repeats: int = 4, policy: str = "color,translation,cutout", device: str | None = None,
                             amp: str = "off", verbose: bool = True) -> dict:
    """Return seconds per step without and with DiffAugment and their ratio; print them side by side if verbose."""
    images = torch.rand(max(4 * batch_size, 256), 3, image_size, image_size) * 2 - 1
    augment = DiffAugment(policy)
    times: dict[str, list[float]] = {"plain": [], "augmented": []}
    for _, side in interleaved(("plain", "augmented"), repeats):  # order plain, aug, aug, plain, ...
        times[side].append(seconds_per_step(images, image_size, width, batch_size, steps,
                                            augment if side == "augmented" else None, device, amp))
    plain, augmented = statistics.median(times["plain"]), statistics.median(times["augmented"])
    augmentation_only = augmentation_seconds_per_step(augment, batch_size, image_size, device)
    report = {"image_size": image_size, "width": width, "batch_size": batch_size, "steps": steps,
              "repeats": repeats, "policy": augment.policy, "device": device or "auto", "amp": amp,
              "torch_threads": torch.get_num_threads(), "seconds_per_step": {"plain": plain, "augmented": augmented},
              "runs": times, "ratio": augmented / plain,
              "augmentation_seconds_per_step": augmentation_only, "augmentation_fraction_of_plain_step": augmentation_only / plain}
    if verbose:
        print(f"DCGAN {image_size} px, width {width}, batch {batch_size}, {steps} steps x {repeats} repeats, "
              f"torch threads {report['torch_threads']}, device {report['device']}, amp {amp}")
        print(f"{'':24}{'plain':>12}{'DiffAugment':>14}")
        print(f"{'ms / step (median)':24}{plain * 1e3:>12.1f}{augmented * 1e3:>14.1f}")
        print(f"{'ms / step (each run)':24}{' / '.join(f'{t * 1e3:.0f}' for t in times['plain']):>24}"
              f"{'   ' + ' / '.join(f'{t * 1e3:.0f}' for t in times['augmented'])}")
        print(f"overhead ratio DiffAugment / plain ({augment.policy!r}): {report['ratio']:.3f}x")
        print(f"the augmentation alone (3 batches forward, 1 backward): {augmentation_only * 1e3:.1f} ms per step, "
              f"{report['augmentation_fraction_of_plain_step']:.1%} of a plain step (less noisy than the ratio)")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the comparison from the command line; return 0."""
    parser = timing_parser(__doc__.split("\n")[0], image_size=64, batch_size=32, steps=20, repeats=4, width=32)
    parser.add_argument("--policy", default="color,translation,cutout")
    args = parser.parse_args(argv)
    report = measure_augment_overhead(args.image_size, args.width, args.batch_size, args.steps, args.repeats,
                                      args.policy, args.device, resolve_precision(args.amp, args.device))
    if args.json:
        print(f"report written to {write_json(args.json, report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
