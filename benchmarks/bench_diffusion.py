r"""The DDPM of notebook 09 next to a DCGAN: a training step and the sampling time per image, side by side in one run.

Both models are built at notebook 09's ``cpu`` settings by default (32 px; the DDPM's U-Net of width 16 from
:func:`medgan_nb.models.diffusion.build_unet`, class-conditional as in the notebook; the DCGAN at the registry's
``cpu`` width) and fed the same phantom lesions:

* **training**: seconds per training step at one batch size, the DCGAN's step through the kit's engine
  (:func:`medgan_nb.train.train_gan`: one D and one G update) and the DDPM's through its own loop
  (:func:`medgan_nb.train.train_ddpm`: one ε-prediction update), each fresh model trained for
  ``warmup + steps`` steps with only the last ``steps`` timed;
* **sampling**: seconds per image of drawing ``n`` images, the DCGAN with one forward pass each, the DDPM with
  its DDPM sampler over ``--ddpm-steps`` of its ``T`` steps and with DDIM at each of ``--ddim-steps`` (the
  notebook's ``cpu`` settings: the cosine schedule, ``T`` = 250, DDIM at 10, 25 and 50 steps).

Every side runs ``repeats`` times in interleaved rounds (order reversed every other round), so a change of the
machine's load hits all of them. Reported: the medians and the **ratios** to the DCGAN (the figures to read;
absolute seconds depend on the machine). There is no target: the ratios are what notebook 09 teaches, that a
diffusion model pays per sample what a GAN pays once.

Usage::

    python benchmarks/bench_diffusion.py [--image-size 32] [--width 16] [--batch-size 32] [--steps 5]
                                         [--repeats 3] [--n 32] [--timesteps 250] [--ddpm-steps 250]
                                         [--ddim-steps 10 25 50] [--json runs/bench/diffusion.json]
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import torch

from medgan_nb.data import load_dataset
from medgan_nb.metrics.fid import sample_generator
from medgan_nb.models import build_family, diffusion
from medgan_nb.train import family_config, train_ddpm, train_gan

from common import interleaved, print_and_write, step_clock, timing_parser  # benchmarks/common.py


def dcgan_step_seconds(images: torch.Tensor, *, batch_size: int, steps: int, warmup: int, device: str | None):
    """Return (seconds per DCGAN training step, one D and one G update, over ``steps`` after ``warmup``; the G)."""
    torch.manual_seed(0)
    generator, discriminator = build_family("dcgan", int(images.shape[-1]), "cpu")
    config = family_config("dcgan", int(images.shape[-1]), steps=warmup + steps, batch_size=batch_size, seed=0,
                           device=device, amp="off", progress=False, log_every=warmup + steps)
    clock, read_clock = step_clock(warmup, warmup + steps)

    result = train_gan(generator, discriminator, images, config, callbacks=[read_clock])
    return (clock[warmup + steps] - clock[warmup]) / steps, result.best_generator


def ddpm_step_seconds(images: torch.Tensor, labels: torch.Tensor, *, width: int, timesteps: int, batch_size: int,
                      steps: int, warmup: int, device: str | None):
    """Return (seconds per DDPM training step over ``steps`` after ``warmup``, the trained U-Net, its scheduler)."""
    torch.manual_seed(0)
    unet = diffusion.build_unet(int(images.shape[-1]), width=width, num_classes=int(labels.max()) + 1)
    scheduler = diffusion.make_scheduler("ddpm", timesteps=timesteps, schedule="cosine")
    train_ddpm(unet, scheduler, images, labels, steps=warmup, batch_size=batch_size, seed=0, device=device,
               progress=False)  # the warm-up: the allocator and the kernels' first calls
    result = train_ddpm(unet, scheduler, images, labels, steps=steps, batch_size=batch_size, seed=1, device=device,
                        progress=False)
    return result.seconds / steps, result.unet, scheduler


def seconds_per_image(draw, n: int) -> float:
    """Return the seconds per image of ``draw()``, which draws ``n`` images."""
    start = time.perf_counter()
    draw()
    return (time.perf_counter() - start) / n


def run_benchmark(image_size: int = 32, width: int = 16, batch_size: int = 32, steps: int = 5, warmup: int = 2,
                  repeats: int = 3, n: int = 32, timesteps: int = 250, ddpm_steps: int = 250,
                  ddim_steps: tuple[int, ...] = (10, 25, 50), device: str | None = None) -> dict:
    """Return the report: per side the seconds of every round, their median and the ratio to the DCGAN's."""
    data = load_dataset("phantom", size=image_size, split="all", n=max(200, batch_size * 4), seed=0)
    started = time.perf_counter()
    training = {"dcgan": [], "ddpm": []}
    models = {}
    for repeat, side in interleaved(list(training), repeats):
        if side == "dcgan":
            seconds, models["dcgan"] = dcgan_step_seconds(data.images, batch_size=batch_size, steps=steps,
                                                          warmup=warmup, device=device)
        else:
            seconds, models["unet"], models["scheduler"] = ddpm_step_seconds(
                data.images, data.labels, width=width, timesteps=timesteps, batch_size=batch_size, steps=steps,
                warmup=warmup, device=device)
        training[side].append(seconds)
        print(f"  round {repeat + 1}/{repeats}  training {side:<6} {seconds * 1e3:8.1f} ms/step", flush=True)
    labels = data.labels[:n]
    ddim = diffusion.ddim_from(models["scheduler"])
    draws = {"dcgan": lambda: sample_generator(models["dcgan"], n, seed=0),
             f"ddpm-{ddpm_steps}": lambda: diffusion.sample(models["unet"], models["scheduler"], n, steps=ddpm_steps,
                                                            labels=labels, progress=False, device=device)}
    for k in ddim_steps:
        draws[f"ddim-{k}"] = lambda k=k: diffusion.sample(models["unet"], ddim, n, steps=k, labels=labels,
                                                          progress=False, device=device)
    sampling = {side: [] for side in draws}
    for repeat, side in interleaved(list(draws), repeats):
        sampling[side].append(seconds_per_image(draws[side], n))
        print(f"  round {repeat + 1}/{repeats}  sampling {side:<9} {sampling[side][-1] * 1e3:9.3f} ms/image", flush=True)
    train_median = {side: statistics.median(values) for side, values in training.items()}
    sample_median = {side: statistics.median(values) for side, values in sampling.items()}
    return {
        "benchmark": "diffusion_vs_dcgan", "image_size": image_size, "width": width, "batch_size": batch_size,
        "steps": steps, "warmup": warmup, "repeats": repeats, "n": n, "timesteps": timesteps,
        "training_seconds_per_step": train_median, "training_runs": training,
        "training_ratio_ddpm_to_dcgan": train_median["ddpm"] / train_median["dcgan"],
        "sampling_seconds_per_image": sample_median, "sampling_runs": sampling,
        "sampling_ratio_to_dcgan": {side: value / sample_median["dcgan"] for side, value in sample_median.items()},
        "parameters": {"dcgan_g": sum(p.numel() for p in models["dcgan"].parameters()),
                       "ddpm_unet": sum(p.numel() for p in models["unet"].parameters())},
        "device": device or ("cuda" if torch.cuda.is_available() else "cpu"), "torch": torch.__version__,
        "platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "total_seconds": time.perf_counter() - started,
    }


def print_report(report: dict) -> None:
    """Print the training step and the sampling cost per image of each side, with the ratio to the DCGAN."""
    print(f"\nDDPM (U-Net width {report['width']}, {report['parameters']['ddpm_unet']:,} parameters) vs DCGAN "
          f"(G {report['parameters']['dcgan_g']:,} parameters) at {report['image_size']} px, batch "
          f"{report['batch_size']}, {report['repeats']} rounds, device {report['device']}, torch threads "
          f"{report['torch_threads']}")
    train = report["training_seconds_per_step"]
    print(f"training step: DCGAN {train['dcgan'] * 1e3:.1f} ms, DDPM {train['ddpm'] * 1e3:.1f} ms "
          f"-> DDPM / DCGAN = {report['training_ratio_ddpm_to_dcgan']:.2f}")
    print(f"{'sampler':<12}{'ms / image':>12}{'x dcgan':>10}")
    for side, seconds in report["sampling_seconds_per_image"].items():
        print(f"{side:<12}{seconds * 1e3:>12.3f}{report['sampling_ratio_to_dcgan'][side]:>10.0f}")
    print(f"whole benchmark: {report['total_seconds']:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the report and write the JSON; 2 on a bad option."""
    parser = timing_parser(__doc__.split("\n")[0], image_size=32, batch_size=32, steps=5, repeats=3, width=16,
                           amp="off")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps before the timed ones")
    parser.add_argument("--n", type=int, default=32, help="images drawn per sampling measurement")
    parser.add_argument("--timesteps", type=int, default=250, help="T, the length of the noising chain")
    parser.add_argument("--ddpm-steps", type=int, default=250, help="steps of the DDPM sampler (at most T)")
    parser.add_argument("--ddim-steps", type=int, nargs="+", default=[10, 25, 50], help="DDIM step counts to time")
    args = parser.parse_args(argv)
    if args.amp != "off":
        parser.error("both sides run in fp32 (the DDPM's loop has no mixed precision): leave --amp off")
    if min(args.steps, args.warmup, args.repeats, args.n, *args.ddim_steps, args.ddpm_steps) < 1:
        parser.error("--steps, --warmup, --repeats, --n, --ddpm-steps and --ddim-steps must be >= 1")
    report = run_benchmark(args.image_size, args.width, args.batch_size, args.steps, args.warmup, args.repeats,
                           args.n, args.timesteps, args.ddpm_steps, tuple(args.ddim_steps), args.device)
    return print_and_write(report, print_report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
