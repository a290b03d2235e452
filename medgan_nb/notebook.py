"""What a notebook calls: its parameters (:func:`start`) and its results (:func:`write_metrics`).

Every notebook's first code cell is tagged ``parameters`` and holds the same
knobs (``profile``, ``dataset``, ``data_root``, ``image_size``, ``steps``,
``batch_size``, ``device``, ``seed``, ``output_dir``). Knobs left at ``None``
take the profile's default from the table the notebook passes to
:func:`start`. Each notebook ends with :func:`write_metrics`, which the tests
and the ``make notebooks`` summary read.

The papermill runner that executes the notebooks headlessly (``make notebooks``)
is maintainer tooling and lives in :mod:`medgan_nb.tools.runner`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .runtime import check_profile, pick_device, project_root, seed_everything

COMMON_KNOBS = ("image_size", "steps", "batch_size")


@dataclass
class NotebookRun:
    """The resolved knobs of one notebook run."""

    name: str
    profile: str
    dataset: str
    data_root: str | None
    image_size: int | None
    steps: int | None
    batch_size: int | None
    device: torch.device
    seed: int
    output_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        # Notebook-specific knobs (e.g. ``n_modes``) live in ``extra``.
        extra = self.__dict__.get("extra", {})
        if key in extra:
            return extra[key]
        raise AttributeError(key)

    def load(self, split: str, **phantom_options: Any):
        """Return the ``split`` ("train", "val", "test") of the run's dataset as a LesionDataset.

        On the phantom (no files) it renders ``n_images`` images drawn from the run's ``seed``, with
        ``phantom_options`` (e.g. a class ``prior``) passed on; a real dataset is read from ``data_root``
        at ``image_size`` and ``phantom_options`` do not apply (its files fix what it holds).
        """
        from .data import load_dataset

        options = {"n": self.n_images, "seed": self.seed, **phantom_options} if self.dataset == "phantom" else {}
        return load_dataset(self.dataset, root=self.data_root, size=self.image_size, split=split, **options)

    def describe(self) -> str:
        """Return a one-paragraph human summary of the run's settings."""
        knobs = {k: v for k, v in asdict(self).items() if k not in ("extra", "device", "output_dir")}
        knobs.update(self.extra)
        text = ", ".join(f"{k}={v}" for k, v in knobs.items())
        return f"{text}\ndevice={self.device}, outputs -> {self.output_dir}"


def start(
    name: str,
    *,
    profile: str = "cpu",
    dataset: str = "phantom",
    data_root: str | None = None,
    image_size: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    seed: int = 0,
    output_dir: str | None = None,
    defaults: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> NotebookRun:
    """Resolve a notebook's knobs against its per-profile ``defaults``, seed everything, make output_dir.

    ``defaults`` maps each profile to the values of knobs left ``None``, e.g.
    ``{"smoke": {"steps": 50}, "cpu": {"steps": 2000}, "gpu": {"steps": 20000}}``.
    Extra keyword arguments are notebook-specific knobs; ``None`` ones take
    the profile default too.
    """
    check_profile(profile)
    table = (defaults or {}).get(profile, {})
    given = {"image_size": image_size, "steps": steps, "batch_size": batch_size, **extra}
    resolved = {k: (table.get(k) if v is None else v) for k, v in given.items()}
    for key, value in table.items():
        resolved.setdefault(key, value)
    seed = int(seed)
    seed_everything(seed)
    out = Path(output_dir) if output_dir else project_root() / "runs" / profile / name
    out.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(
        name=name,
        profile=profile,
        dataset=dataset,
        data_root=data_root,
        image_size=resolved.pop("image_size"),
        steps=resolved.pop("steps"),
        batch_size=resolved.pop("batch_size"),
        device=pick_device(device),
        seed=seed,
        output_dir=out,
        extra=resolved,
    )
    return run


def jsonable(value: Any) -> Any:
    """Convert tensors, numpy scalars/arrays and paths into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist())
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


def write_metrics(run: NotebookRun, metrics: dict[str, Any], headline: list[str] | None = None) -> Path:
    """Write ``metrics.json`` atomically into the run's output_dir and return its path.

    ``headline`` names the few keys the ``make notebooks`` summary table shows.
    """
    payload = {
        "notebook": run.name,
        "profile": run.profile,
        "dataset": run.dataset,
        "seed": run.seed,
        "device": str(run.device),
        "headline": list(headline or []),
        **jsonable(metrics),
    }
    path = run.output_dir / "metrics.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False))
    os.replace(tmp, path)
    return path
