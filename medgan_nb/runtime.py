"""Where the code runs: device choice, Colab detection, seeding and run profiles.

Every notebook runs under one of three *profiles* that pick defaults for the
knobs a user leaves at ``None``:

========  ===========================================  =====================
profile   meant for                                    typical notebook time
========  ===========================================  =====================
smoke     CI on a 2-core CPU: proves every path runs    seconds to a minute
cpu       a laptop or free Colab CPU                    minutes
gpu       Colab GPU / GPU runners, real datasets        full size
========  ===========================================  =====================
"""
from __future__ import annotations

import os
import platform
import random
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu")

def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(temporary)`` fills ``.<name>.<pid>.tmp`` beside ``path``, then a rename.

    Readers see the old file or the new one, never half of one; the temporary is removed if ``write`` fails. The
    ``<pid>`` lets :func:`medgan_nb.train.checkpoints.remove_stale_temporaries` clear files of killed processes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is a known profile, else raise a ValueError listing them."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)} "
            "(smoke = CI seconds, cpu = laptop minutes, gpu = full size)"
        )
    return profile


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the requested device, or the best available one: cuda > mps > cpu."""
    if preferred not in (None, "", "auto"):
        device = torch.device(preferred)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {preferred!r} was requested but CUDA is not available here; "
                "pass device=None (auto) or device='cpu'"
            )
        if device.type == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            raise RuntimeError(f"device {preferred!r} was requested but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def project_root(start: Path | None = None) -> Path:
    """Return the repository root (the folder with ``pyproject.toml`` and ``notebooks/``), else cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return Path.cwd().resolve()


def in_colab() -> bool:
    """Return True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def cpu_supports_bf16() -> bool:
    """Return True when this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fastest_cpu_precision(batch_size: int = 16, image_size: int = 32, repeats: int = 3) -> tuple[str, dict[str, float]]:
    """Return ("bf16" or "off", seconds per step of each) from timing a small conv net's training step on the CPU.

    The flags say whether bfloat16 is native (:func:`cpu_supports_bf16`), but not
    whether autocast pays off for small convolutions, so both are measured on
    the same few steps (best of ``repeats``) and the faster one wins.
    """
    import time

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 4, 2, 1), torch.nn.LeakyReLU(0.2),
                              torch.nn.Conv2d(32, 64, 4, 2, 1), torch.nn.LeakyReLU(0.2),
                              torch.nn.Flatten(), torch.nn.LazyLinear(1))
    images = torch.randn(batch_size, 3, image_size, image_size)
    net(images)  # materialise the lazy layer
    seconds: dict[str, float] = {}
    for amp in ("off", "bf16"):
        best = float("inf")
        for _ in range(repeats + 1):  # the first round warms up the kernels
            started = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
                loss = net(images).float().mean()
            loss.backward()
            best = min(best, time.perf_counter() - started)
        seconds[amp] = best
    return ("bf16" if seconds["bf16"] < seconds["off"] else "off"), seconds


def environment_report() -> dict[str, Any]:
    """Return a dict describing the machine and library versions (for the setup notebook)."""
    import matplotlib
    import skimage

    device = pick_device()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-image": skimage.__version__,
        "matplotlib": matplotlib.__version__,
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpu_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_supports_bf16(),
        "colab": in_colab(),
    }
    for name in ("torchvision", "torchmetrics", "ipywidgets", "papermill"):
        try:
            module = __import__(name)
            report[name] = getattr(module, "__version__", "installed")
        except ImportError:
            report[name] = None
    return report
