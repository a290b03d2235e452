r"""Training speed of the advanced GAN families next to a DCGAN step, side by side in one run.

Every family is built by the registry (``build_family(name, image_size, budget)``) and trained by
:func:`medgan_nb.train.train_gan` with its recommended settings (``family_config(name, image_size)``) on the
same phantom lesions (32 px and the ``cpu`` budget's widths by default), with one batch size for all:

* ``dcgan`` -- the reference step;
* ``stylegan`` -- modulated convolutions (one grouped convolution per layer), noise, style mixing, lazy R1, EMA;
* ``progressive`` -- the warm-up steps run at 4 px, then the fade-in schedule walks 4 px to full size over
  the timed steps, so its figure is the average over one whole schedule, as in training;
* ``spade`` and ``pix2pix`` -- conditioned on the phantoms' lesion masks
  (``load_dataset("phantom").masks`` through :func:`medgan_nb.models.spade.mask_condition`);
* ``cyclegan`` -- two generators and two discriminators; each training item is the channel stack of one
  A image and one unrelated B image (:func:`medgan_nb.models.translation.unpaired_pairs`; B = mirrored
  lesions), so its images/s counts *pairs*.

One measurement trains a fresh pair for ``warmup + steps`` steps and times the last ``steps`` (a callback
reads the clock; on CUDA after a synchronise). The families run in turn, ``repeats`` rounds, the order
reversed every other round (dcgan, stylegan, ..., cyclegan, then cyclegan, ..., dcgan), so that a change of
the machine's load hits every family. Reported: the median images/s of each family, its ratio to DCGAN's
(the figure to read: absolute speeds depend on the machine and its load), parameters of G and D, and the
settings; printed as a table and written as JSON with ``--json``.

Usage::

    python benchmarks/bench_families.py [--image-size 32] [--budget cpu] [--batch-size 16] [--steps 6]
                                        [--repeats 2] [--families dcgan stylegan ...] [--json runs/bench/families.json]
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from medgan_nb.data import load_dataset
from medgan_nb.models import build_family, get_family
from medgan_nb.models.spade import mask_condition
from medgan_nb.models.translation import unpaired_pairs
from medgan_nb.train import family_config, train_gan

from common import interleaved, print_and_write, resolve_precision, step_clock, timing_parser  # benchmarks/common.py

FAMILIES = ("dcgan", "stylegan", "progressive", "spade", "pix2pix", "cyclegan")
REFERENCE = "dcgan"


def training_inputs(name: str, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return (data, labels) for train_gan: images alone, images with masks, or unpaired A/B stacks."""
    conditioning = get_family(name).conditioning
    if conditioning == "mask":
        return images, mask_condition(masks)
    if conditioning == "unpaired":
        pairs = unpaired_pairs(images, images.flip(3), seed=0)  # domain B: mirrored lesions
        return pairs, pairs
    return images, None


def timed_window(schedule, warmup: int, steps: int):
    """Return a schedule hook that stays at the first stage for the warm-up steps, then runs ``schedule`` over the timed ones."""
    def hook(step: int, total_steps: int, generator, discriminator) -> None:
        schedule(max(1, step - warmup), steps, generator, discriminator)  # timed step k is step k of the schedule

    return hook


def images_per_second(name: str, images: torch.Tensor, masks: torch.Tensor, *, image_size: int, budget: str,
                      batch_size: int, steps: int, warmup: int, device: str | None, amp: str) -> float:
    """Return the images (or pairs) per second of ``steps`` training steps of a fresh ``name``, after ``warmup`` steps."""
    data, labels = training_inputs(name, images, masks)
    torch.manual_seed(0)
    generator, discriminator = build_family(name, image_size, budget)
    config = family_config(name, image_size, steps=warmup + steps, batch_size=batch_size, seed=0, device=device,
                           amp=amp, progress=False, log_every=warmup + steps)
    if config.schedule is not None:  # progressive: the timed steps walk the whole 4 px -> full-size schedule
        config.schedule = timed_window(config.schedule, warmup, steps)
    clock, read_clock = step_clock(warmup, warmup + steps)

    train_gan(generator, discriminator, data, config, callbacks=[read_clock], labels=labels)
    return steps * batch_size * config.n_critic / (clock[warmup + steps] - clock[warmup])


def parameter_counts(name: str, image_size: int, budget: str) -> dict[str, int]:
    """Return the trainable parameters of the family's G and D at this budget."""
    generator, discriminator = build_family(name, image_size, budget)
    count = lambda module: sum(p.numel() for p in module.parameters() if p.requires_grad)  # noqa: E731
    return {"parameters_g": count(generator), "parameters_d": count(discriminator)}


def run_benchmark(families: list[str], image_size: int = 32, budget: str = "cpu", batch_size: int = 16,
                  steps: int = 6, warmup: int = 2, repeats: int = 2, n_images: int = 200,
                  device: str | None = None, amp: str = "auto") -> dict:
    """Return the report: per family the images/s of every repeat, their median and the ratio to DCGAN's median."""
    if REFERENCE not in families:
        families = [REFERENCE, *families]
    data = load_dataset("phantom", size=image_size, split="all", n=n_images, seed=0)
    measured: dict[str, list[float]] = {name: [] for name in families}
    started = time.perf_counter()
    for repeat, name in interleaved(families, repeats):  # a load change hits every family
        speed = images_per_second(name, data.images, data.masks, image_size=image_size, budget=budget,
                                  batch_size=batch_size, steps=steps, warmup=warmup, device=device, amp=amp)
        measured[name].append(speed)
        print(f"  round {repeat + 1}/{repeats}  {name:<12} {speed:8.1f} images/s", flush=True)
    reference = statistics.median(measured[REFERENCE])
    rows = {}
    for name in families:
        median = statistics.median(measured[name])
        rows[name] = {"width": get_family(name).widths[budget], "images_per_second": median,
                      "runs_images_per_second": measured[name], "ratio_to_dcgan": median / reference,
                      "conditioning": get_family(name).conditioning, **parameter_counts(name, image_size, budget)}
    return {"benchmark": "family_training_speed", "image_size": image_size, "budget": budget,
            "batch_size": batch_size, "steps": steps, "warmup": warmup, "repeats": repeats, "n_images": n_images,
            "device": device or ("cuda" if torch.cuda.is_available() else "cpu"), "amp": amp,
            "torch": torch.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "families": rows,
            "total_seconds": time.perf_counter() - started}


def print_report(report: dict) -> None:
    """Print one line per family: width, parameters, images/s and the ratio to DCGAN."""
    print(f"\nTraining speed at {report['image_size']} px, budget {report['budget']!r}, batch {report['batch_size']}, "
          f"{report['steps']} timed steps x {report['repeats']} rounds, device {report['device']}, "
          f"torch threads {report['torch_threads']}")
    print(f"{'family':<12}{'width':>6}{'G params':>11}{'D params':>11}{'images/s':>11}{'x dcgan':>9}")
    for name, row in report["families"].items():
        print(f"{name:<12}{row['width']:>6}{row['parameters_g']:>11,}{row['parameters_d']:>11,}"
              f"{row['images_per_second']:>11.1f}{row['ratio_to_dcgan']:>9.2f}")
    print("(cyclegan: image pairs per second; progressive: averaged over its whole 4 px -> full-size schedule)")
    print(f"whole benchmark: {report['total_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON report; 2 on a bad option."""
    parser = timing_parser(__doc__.split("\n")[0], image_size=32, batch_size=16, steps=6, repeats=2)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), help=f"any of {', '.join(FAMILIES)}")
    parser.add_argument("--budget", default="cpu", help="smoke | cpu | gpu: picks each family's width")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    parser.add_argument("--images", type=int, default=200, help="phantom images to render")
    args = parser.parse_args(argv)
    unknown = [name for name in args.families if name not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    if args.steps < 1 or args.warmup < 1 or args.repeats < 1:
        parser.error(f"--steps, --warmup and --repeats must be >= 1, got {args.steps}, {args.warmup}, {args.repeats}")
    report = run_benchmark(args.families, args.image_size, args.budget, args.batch_size, args.steps, args.warmup,
                           args.repeats, args.images, args.device, resolve_precision(args.amp, args.device))
    return print_and_write(report, print_report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
