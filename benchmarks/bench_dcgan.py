r"""DCGAN training speed: the kit's way vs the pytorch/examples way, side by side in one run.

Both sides train the same DCGAN (:func:`medgan_nb.models.dcgan.build_dcgan`,
64 px, batch 64, Adam 2e-4 / (0.5, 0.999), non-saturating BCE) for the same
number of epochs on the same files: phantom lesions written as 600 x 450 JPEG
files in the HAM10000 layout, the way users hold the real data.

* **reference** -- the loop of pytorch/examples ``dcgan/main.py``: torchvision
  ``ImageFolder`` (a folder of links to the JPEGs) with ``Resize(64)``,
  ``CenterCrop(64)``, ``ToTensor``, ``Normalize``; a ``DataLoader`` with 2
  workers decoding every JPEG again in every epoch; fp32; D's weight gradients
  computed in G's step too.
* **kit** -- ``load_dataset("ham10000", size=64, split="all")`` decodes every
  JPEG once into its cache (timed: a fresh, empty cache folder), then
  :func:`medgan_nb.train.train_gan` takes batches straight from the in-memory
  tensor with ``channels_last`` and, on CPUs with native bfloat16, bf16
  autocast.

Reported: images/s of each side and their ratio (target >= 1.5; the script
exits with status 1 below it), the achieved GFLOP/s of the training step
(FLOPs of G and D forward + backward counted by
``torch.utils.flop_counter.FlopCounterMode``) as a fraction of a 2048 x 2048
matmul's GFLOP/s measured in the same run, and -- because bf16 is only worth
it if samples stay as good -- a short fp32 vs bf16 training comparison:
Fréchet distance to the real images in the kit's fixed feature space
(:mod:`medgan_nb.metrics.fid`) and loss levels, with a second fp32 seed as
the yardstick of ordinary run-to-run variation.

Usage::

    python benchmarks/bench_dcgan.py [--images 1200] [--epochs 2] [--json runs/bench/dcgan.json]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from medgan_nb.data.export import export_phantoms
from medgan_nb.models.dcgan import build_dcgan
from medgan_nb.runtime import cpu_supports_bf16
from medgan_nb.train import TrainConfig, train_gan

from common import interleaved, resolve_precision, write_json  # benchmarks/common.py

TARGET_RATIO = 1.5


# ----------------------------------------------------------------------------
# Data on disk, as users hold it
# ----------------------------------------------------------------------------

def write_dataset(workdir: Path, n_images: int) -> tuple[Path, Path]:
    """Return (HAM10000-layout folder, ImageFolder root linking to the same JPEGs) after writing ``n_images``."""
    ham_root = workdir / "ham10000"
    export_phantoms(ham_root, "ham10000", n=n_images, size=(600, 450), masks=False, progress=False)
    image_folder = workdir / "imagefolder"
    one_class = image_folder / "lesions"  # ImageFolder wants root/<class>/<image>
    one_class.mkdir(parents=True)
    for jpeg in sorted(ham_root.rglob("*.jpg")):
        (one_class / jpeg.name).symlink_to(jpeg)
    return ham_root, image_folder


# ----------------------------------------------------------------------------
# The reference: pytorch/examples dcgan/main.py
# ----------------------------------------------------------------------------

def reference_step(netG, netD, optimizerD, optimizerG, real, latent_dim: int) -> tuple[float, float]:
    """One iteration of pytorch/examples' DCGAN loop (BCE on logits); return (errD, errG)."""
    criterion = nn.BCEWithLogitsLoss()  # the example's Sigmoid + BCELoss, on our logit discriminator
    netD.zero_grad()
    batch = real.size(0)
    label = torch.full((batch,), 1.0)
    errD_real = criterion(netD(real), label)
    errD_real.backward()
    noise = torch.randn(batch, latent_dim, 1, 1)
    fake = netG(noise)
    label.fill_(0.0)
    errD_fake = criterion(netD(fake.detach()), label)
    errD_fake.backward()
    optimizerD.step()
    netG.zero_grad()
    label.fill_(1.0)
    errG = criterion(netD(fake), label)
    errG.backward()
    optimizerG.step()
    return (errD_real + errD_fake).item(), errG.item()


def run_reference(image_folder: Path, epochs: int, batch_size: int, image_size: int, seed: int) -> dict:
    """Train the pytorch/examples way (decode + resize every JPEG every epoch); return timing and losses."""
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    torch.manual_seed(seed)
    dataset = dset.ImageFolder(root=str(image_folder), transform=transforms.Compose([
        transforms.Resize(image_size),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ]))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2)
    netG, netD = build_dcgan(image_size=image_size)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images, steps, losses = 0, 0, []
    started = time.perf_counter()
    for _ in range(epochs):
        for real, _ in dataloader:
            losses.append(reference_step(netG, netD, optimizerD, optimizerG, real, netG.latent_dim))
            images += real.size(0)
            steps += 1
    seconds = time.perf_counter() - started
    return {"images": images, "steps": steps, "seconds": seconds, "images_per_second": images / seconds,
            "final_loss_d": losses[-1][0], "final_loss_g": losses[-1][1]}


# ----------------------------------------------------------------------------
# The kit
# ----------------------------------------------------------------------------

def kit_config(epochs: float | None, batch_size: int, amp: str, seed: int = 0, steps: int = 0) -> TrainConfig:
    """Return the kit's fast CPU settings: channels_last, bf16 autocast when the CPU has it."""
    return TrainConfig(epochs=epochs, steps=steps, batch_size=batch_size, channels_last=True, amp=amp,
                       seed=seed, progress=False, log_every=10)


def run_kit(ham_root: Path, cache_folder: Path, epochs: int, batch_size: int, image_size: int, amp: str,
            seed: int) -> dict:
    """Decode the JPEGs once into a fresh cache, then train_gan from memory; return timing (cache included)."""
    from medgan_nb.data import load_dataset

    os.environ["MEDGAN_CACHE_DIR"] = str(cache_folder)
    started = time.perf_counter()
    data = load_dataset("ham10000", root=ham_root, size=image_size, split="all", masks=False, progress=False)
    cache_seconds = time.perf_counter() - started
    torch.manual_seed(seed)
    generator, discriminator = build_dcgan(image_size=image_size)
    result = train_gan(generator, discriminator, data, kit_config(epochs, batch_size, amp, seed))
    seconds = time.perf_counter() - started
    images = result.steps * batch_size
    again = time.perf_counter()
    cached = load_dataset("ham10000", root=ham_root, size=image_size, split="all", masks=False, progress=False)
    return {"images": images, "steps": result.steps, "seconds": seconds, "images_per_second": images / seconds,
            "cache_build_seconds": cache_seconds, "train_seconds": result.seconds,
            "train_images_per_second": result.images_per_second,
            "cache_read_seconds": time.perf_counter() - again, "read_from_cache": bool(cached.from_cache),
            "final_loss_d": result.history["loss_d"][-1], "final_loss_g": result.history["loss_g"][-1],
            "data": data.images}


def combine_runs(runs: list[dict]) -> dict:
    """Return the first run's record with images, seconds and images/s totalled over all runs (each run's kept too)."""
    combined = dict(runs[0])
    for key in ("images", "steps", "seconds", "cache_build_seconds", "train_seconds", "cache_read_seconds"):
        if key in combined:
            combined[key] = sum(run[key] for run in runs)
    combined["images_per_second"] = combined["images"] / combined["seconds"]
    if "train_seconds" in combined:
        combined["train_images_per_second"] = combined["images"] / combined["train_seconds"]
    combined["runs_images_per_second"] = [run["images_per_second"] for run in runs]
    return combined


# ----------------------------------------------------------------------------
# FLOPs and the machine's matmul speed
# ----------------------------------------------------------------------------

def count_step_flops(image_size: int, batch_size: int, amp: str) -> dict:
    """Return FLOPs per image of one kit step and one reference step (G and D, forward + backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    real = torch.rand(batch_size, 3, image_size, image_size) * 2 - 1
    torch.manual_seed(0)
    generator, discriminator = build_dcgan(image_size=image_size)
    with FlopCounterMode(display=False) as kit_counter:
        train_gan(generator, discriminator, real, kit_config(None, batch_size, amp, steps=1))
    netG, netD = build_dcgan(image_size=image_size)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    with FlopCounterMode(display=False) as reference_counter:
        reference_step(netG, netD, optimizerD, optimizerG, real, netG.latent_dim)
    return {"kit_flops_per_image": kit_counter.get_total_flops() / batch_size,
            "reference_flops_per_image": reference_counter.get_total_flops() / batch_size}


def matmul_gflops(dtype: torch.dtype, size: int = 2048, seconds: float = 1.5) -> float:
    """Return the GFLOP/s of a size x size matrix product in ``dtype`` on this CPU (best of repeated runs)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    best, deadline = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


# ----------------------------------------------------------------------------
# Does bf16 keep the samples as good?
# ----------------------------------------------------------------------------

def gradient_agreement(generator: nn.Module, discriminator: nn.Module, real: torch.Tensor, seed: int = 0) -> dict:
    """Return the cosine similarity of fp32 and bf16-autocast gradients of L_D and L_G (same models, batch and z)."""
    from medgan_nb.losses import get_loss

    loss_d_fn, loss_g_fn = get_loss("bce")
    real = real.contiguous(memory_format=torch.channels_last)
    z = torch.randn(len(real), generator.latent_dim, generator=torch.Generator().manual_seed(seed))

    def gradients(bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            fake = generator(z)
            loss_d = loss_d_fn(discriminator(real), discriminator(fake.detach()))
        grad_d = torch.autograd.grad(loss_d, list(discriminator.parameters()))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss_g = loss_g_fn(discriminator(fake))
        grad_g = torch.autograd.grad(loss_g, list(generator.parameters()))
        return torch.cat([g.float().flatten() for g in grad_d]), torch.cat([g.float().flatten() for g in grad_g])

    (d32, g32), (d16, g16) = gradients(False), gradients(True)
    cosine = torch.nn.functional.cosine_similarity
    return {"discriminator": float(cosine(d32.double(), d16.double(), dim=0)),  # float64: no rounding above 1
            "generator": float(cosine(g32.double(), g16.double(), dim=0))}


def compare_precisions(images: torch.Tensor, steps: int, batch_size: int, n_eval: int) -> dict:
    """Train fp32 (seeds 0 and 1) and bf16 (seed 0) for ``steps``; return Fréchet distances, losses, gradient agreement."""
    from medgan_nb.metrics.fid import frechet_distance, sample_generator

    real = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n_eval]]
    torch.manual_seed(0)
    agreement = {"initial": gradient_agreement(*build_dcgan(image_size=images.shape[-1]), real[:batch_size])}
    runs = {}
    for name, amp, seed in (("fp32 seed 0", "off", 0), ("fp32 seed 1", "off", 1), ("bf16 seed 0", "bf16", 0)):
        torch.manual_seed(seed)
        generator, discriminator = build_dcgan(image_size=images.shape[-1])
        result = train_gan(generator, discriminator, images, kit_config(None, batch_size, amp, seed, steps=steps))
        history = result.history
        half = len(history) // 2
        fake = sample_generator(result.generator, n_eval, seed=123)
        if name == "fp32 seed 0":
            agreement["trained"] = gradient_agreement(result.generator, result.discriminator, real[:batch_size])
        runs[name] = {
            "frechet_distance": frechet_distance(real, fake),
            "mean_loss_d_second_half": sum(history["loss_d"][half:]) / (len(history) - half),
            "mean_loss_g_second_half": sum(history["loss_g"][half:]) / (len(history) - half),
            "train_images_per_second": result.images_per_second,
            "loss_d": history["loss_d"], "loss_g": history["loss_g"],
        }
    fp32_spread = abs(runs["fp32 seed 0"]["frechet_distance"] - runs["fp32 seed 1"]["frechet_distance"])
    bf16_shift = abs(runs["bf16 seed 0"]["frechet_distance"] - runs["fp32 seed 0"]["frechet_distance"])
    worst_fp32 = max(runs["fp32 seed 0"]["frechet_distance"], runs["fp32 seed 1"]["frechet_distance"])
    return {"steps": steps, "n_eval": n_eval, "runs": runs, "gradient_cosine_fp32_vs_bf16": agreement,
            "fp32_seed_spread": fp32_spread,
            "bf16_vs_fp32_shift": bf16_shift,
            # "as good": bf16 is not worse than the worse of two fp32 seeds by more than the seed-to-seed spread
            "bf16_as_good": runs["bf16 seed 0"]["frechet_distance"] <= worst_fp32 + fp32_spread}


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------

def print_report(report: dict) -> None:
    """Print the side-by-side table."""
    ref, kit = report["reference"], report["kit"]
    print()
    print(f"DCGAN {report['image_size']} px, batch {report['batch_size']}, {report['epochs']} epochs x "
          f"{report['repeats']} runs per side over "
          f"{report['n_images']} JPEGs (600x450), torch threads {report['torch_threads']}, kit amp={report['kit_amp']}")
    print(f"{'':34}{'reference':>14}{'kit':>14}")
    print(f"{'images trained (all runs)':34}{ref['images']:>14}{kit['images']:>14}")
    print(f"{'seconds (kit: cache build incl.)':34}{ref['seconds']:>14.1f}{kit['seconds']:>14.1f}")
    print(f"{'  of which decoding to cache':34}{'':>14}{kit['cache_build_seconds']:>14.1f}")
    print(f"{'images / s':34}{ref['images_per_second']:>14.1f}{kit['images_per_second']:>14.1f}")
    print(f"{'  each run':34}{' / '.join(f'{v:.0f}' for v in ref['runs_images_per_second']):>14}"
          f"{' / '.join(f'{v:.0f}' for v in kit['runs_images_per_second']):>14}")
    print(f"{'images / s, training only':34}{'':>14}{kit['train_images_per_second']:>14.1f}")
    flops = report["flops"]
    print(f"{'GFLOP per image (G+D fwd+bwd)':34}{flops['reference_flops_per_image'] / 1e9:>14.2f}"
          f"{flops['kit_flops_per_image'] / 1e9:>14.2f}")
    print(f"{'achieved GFLOP/s':34}{flops['reference_gflops']:>14.1f}{flops['kit_gflops']:>14.1f}")
    print(f"{'  fraction of matmul GFLOP/s':34}{flops['reference_fraction_of_matmul']:>14.1%}"
          f"{flops['kit_fraction_of_matmul']:>14.1%}")
    print(f"matmul 2048x2048: fp32 {report['matmul_gflops']['fp32']:.1f} GFLOP/s, "
          f"bf16 {report['matmul_gflops']['bf16']:.1f} GFLOP/s")
    print(f"loading the cache again: {kit['cache_read_seconds'] / len(kit['runs_images_per_second']):.2f} s")
    print(f"\nspeed-up kit / reference: {report['ratio']:.2f}x (target >= {TARGET_RATIO}x) -> "
          f"{'PASS' if report['ratio'] >= TARGET_RATIO else 'FAIL'}")


def print_precision(quality: dict) -> None:
    """Print the fp32 vs bf16 comparison."""
    if quality:
        print(f"fp32 vs bf16 after {quality['steps']} steps (Fréchet distance to {quality['n_eval']} real images "
              "in the kit's feature space; lower is better):")
        for name, run in quality["runs"].items():
            print(f"  {name:12} FD {run['frechet_distance']:9.3f}   mean loss_D {run['mean_loss_d_second_half']:.3f}"
                  f"   mean loss_G {run['mean_loss_g_second_half']:.3f}   {run['train_images_per_second']:.1f} img/s")
        for when, cosines in quality["gradient_cosine_fp32_vs_bf16"].items():
            print(f"  gradient cosine fp32 vs bf16 ({when} models, same batch and z): "
                  f"D {cosines['discriminator']:.4f}, G {cosines['generator']:.4f}")
        print(f"  seed-to-seed FD spread (fp32) {quality['fp32_seed_spread']:.3f}; bf16 shift "
              f"{quality['bf16_vs_fp32_shift']:.3f} -> bf16 {'as good' if quality['bf16_as_good'] else 'WORSE'}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when the kit reaches the target speed-up, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1200, help="JPEG files to write (default 1200)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each side, in the order ABBA... (default 2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--amp", default="fastest",
                        help='kit precision: bf16, off, or "fastest" (default): time both on this CPU and take the faster')
    parser.add_argument("--quality-steps", type=int, default=150, help="steps of each fp32/bf16 run (0 = skip)")
    parser.add_argument("--workdir", default=None, help="folder for the JPEGs and cache (default: a temp folder)")
    parser.add_argument("--json", default=None, help="write the report here as JSON")
    args = parser.parse_args(argv)
    amp = resolve_precision(args.amp, "cpu")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_dcgan_"))
    if workdir.exists() and any(workdir.iterdir()):
        print(f"error: --workdir {workdir} is not empty; pass an empty or new folder", file=sys.stderr)
        return 2
    try:
        started = time.perf_counter()
        print(f"writing {args.images} phantom JPEGs (600x450, HAM10000 layout) to {workdir} ...", flush=True)
        ham_root, image_folder = write_dataset(workdir, args.images)
        reference_runs, kit_runs = [], []
        # order ref, kit, kit, ref, ...: a change of load hits both sides
        for repeat, side in interleaved(("reference", "kit"), args.repeats):
            if side == "reference":
                print("reference: ImageFolder + DataLoader(2 workers), fp32 ...", flush=True)
                run = run_reference(image_folder, args.epochs, args.batch_size, args.image_size, seed=0)
                reference_runs.append(run)
                print(f"  {run['images_per_second']:.1f} images/s", flush=True)
            else:
                print(f"kit: load_dataset (fresh cache) + train_gan (channels_last, amp={amp}) ...", flush=True)
                run = run_kit(ham_root, workdir / f"cache{repeat}", args.epochs, args.batch_size,
                              args.image_size, amp, seed=0)
                images = run.pop("data")
                kit_runs.append(run)
                print(f"  {run['images_per_second']:.1f} images/s (cache build included)", flush=True)
        reference, kit = combine_runs(reference_runs), combine_runs(kit_runs)
        matmul = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
        flops = count_step_flops(args.image_size, args.batch_size, amp)
        kit_peak = matmul["bf16" if amp == "bf16" else "fp32"]
        flops["kit_gflops"] = flops["kit_flops_per_image"] * kit["train_images_per_second"] / 1e9
        flops["reference_gflops"] = flops["reference_flops_per_image"] * reference["images_per_second"] / 1e9
        flops["kit_fraction_of_matmul"] = flops["kit_gflops"] / kit_peak
        flops["reference_fraction_of_matmul"] = flops["reference_gflops"] / matmul["fp32"]
        report = {
            "benchmark": "dcgan_training_speed", "n_images": args.images, "epochs": args.epochs, "repeats": args.repeats,
            "batch_size": args.batch_size, "image_size": args.image_size, "kit_amp": amp,
            "torch": torch.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "cpu_bf16": cpu_supports_bf16(),
            "reference": reference, "kit": kit, "ratio": kit["images_per_second"] / reference["images_per_second"],
            "target_ratio": TARGET_RATIO, "matmul_gflops": matmul, "flops": flops,
        }
        report["total_seconds"] = time.perf_counter() - started
        print_report(report)  # the speed results first, in case the quality check is interrupted
        if args.json:
            write_json(Path(args.json), report)
        if args.quality_steps > 0 and amp != "bf16":
            print("\nfp32 vs bf16 sample quality: skipped (bf16 is not the faster precision on this CPU)")
        elif args.quality_steps > 0:
            print(f"\nfp32 vs bf16: 3 runs of {args.quality_steps} steps ...", flush=True)
            report["precision"] = compare_precisions(images, args.quality_steps, args.batch_size, n_eval=512)
            report["total_seconds"] = time.perf_counter() - started
            print_precision(report["precision"])
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nwhole benchmark: {report['total_seconds']:.0f} s")
    if args.json:
        write_json(Path(args.json), report)
        print(f"report written to {args.json}")
    return 0 if report["ratio"] >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
