"""What training leaves behind: the per-step :class:`History`, the :class:`TrainState` callbacks see, the :class:`TrainResult`.

The engine *reports*: it appends numbers to a History and hands a TrainState to
every callback after each step. Drawing them is the figure module's job
(:func:`medgan_nb.viz.plot_gan_history`, :func:`medgan_nb.viz.live_plot`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # only for type hints: the config module does not import this one
    from .config import TrainConfig

Tensor = torch.Tensor

HISTORY_FIELDS = (
    "step", "loss_d", "loss_g", "d_real", "d_fake",
    "grad_norm_g", "grad_norm_d", "seconds", "images_per_second",
)


class History:
    """Per-step training records: step, loss_d, loss_g, d_real, d_fake, grad norms, seconds, images/s, extra terms.

    ``d_real`` / ``d_fake`` are the batch means of :math:`\\sigma(D(x))` and
    :math:`\\sigma(D(G(z)))` for the cross-entropy losses (probabilities,
    ``d_output == "probability"``) and of the raw critic output otherwise
    (``d_output == "raw"``; for a Wasserstein critic ``d_real - d_fake`` is the
    estimate of the Wasserstein distance). ``seconds`` is wall time since
    training started. Extra columns (e.g. ``loss_l1`` of pix2pix, ``loss_cycle``
    of CycleGAN) appear when a generator-loss hook returns named terms.
    """

    def __init__(self, records: dict[str, list] | None = None, d_output: str = "probability") -> None:
        self.d_output = d_output
        self._columns: dict[str, list] = {name: [] for name in HISTORY_FIELDS}
        for name, values in (records or {}).items():
            self._columns[name] = list(values)

    def append(self, **record: float) -> None:
        """Add one record (every field of HISTORY_FIELDS, plus any extra named terms)."""
        missing = [name for name in HISTORY_FIELDS if name not in record]
        if missing:
            raise ValueError(f"a history record needs {', '.join(missing)}")
        for name, value in record.items():
            if name not in self._columns:  # a new extra column: earlier rows did not have it
                self._columns[name] = [math.nan] * len(self)
        for name, values in self._columns.items():
            values.append(record.get(name, math.nan))

    def __len__(self) -> int:
        return len(self._columns["step"])

    def __getitem__(self, name: str) -> list:
        """Return one column as a list, e.g. ``history["loss_d"]``."""
        return self._columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self._columns

    @property
    def columns(self) -> list[str]:
        """Return the names of all columns, the standard ones first."""
        return list(self._columns)

    def last(self) -> dict[str, float]:
        """Return the most recent record as a dict (empty if nothing was recorded)."""
        return {name: values[-1] for name, values in self._columns.items()} if len(self) else {}

    def balance_verdict(self, fraction: float = 0.1, won: float = 0.9) -> str:
        """Return whether D has won, is ahead, or is balanced with G, from the last ``fraction`` of the records.

        Reads the mean sigma(D(x)) on real and sigma(D(G(z))) on fake images (only for a probability
        output): D has *won* when real images score above ``won`` and fakes below ``1 - won``, the point
        where the non-saturating G's gradients become small and its samples stop improving.
        """
        if self.d_output != "probability":
            return "the critic's outputs are raw scores: read the gap D(x) - D(G(z)), not probabilities"
        if not len(self):
            return "nothing recorded yet"
        width = max(1, int(len(self) * fraction))
        real = sum(self["d_real"][-width:]) / width
        fake = sum(self["d_fake"][-width:]) / width
        numbers = f"sigma(D(x)) {real:.2f} on real, sigma(D(G(z))) {fake:.2f} on fake images over the last {width} records"
        if real > won and fake < 1 - won:
            return f"D has nearly won ({numbers}): G's gradients get small; a longer run needs a weaker D or a lower lr_d"
        if real - fake > 0.2:
            return f"D is ahead, the gap is open ({numbers})"
        return f"D and G are close to balance ({numbers})"

    def as_dict(self) -> dict[str, list]:
        """Return a copy of the records as a dict of lists (plain Python numbers)."""
        return {name: list(values) for name, values in self._columns.items()}

    def to_dataframe(self):
        """Return the records as a pandas DataFrame, one row per recorded step."""
        import pandas as pd

        return pd.DataFrame(self.as_dict())

    def __repr__(self) -> str:
        return f"History({len(self)} records, last={self.last()})"


@dataclass
class TrainState:
    """What callbacks see after every step: models, history, samples and settings."""

    step: int
    total_steps: int
    config: "TrainConfig"
    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    history: History
    samples: list[tuple[int, Tensor]]
    fixed_noise: Tensor
    fixed_labels: Tensor | None
    device: torch.device
    rank: int = 0
    checkpoint: Path | None = None
    stop: bool = False  # a callback may set this to end training after the current step


@dataclass
class TrainResult:
    """What :func:`train_gan` returns: the trained models, history, samples, checkpoint and speed."""

    generator: nn.Module
    discriminator: nn.Module
    ema_generator: nn.Module | None
    history: History
    samples: list[tuple[int, Tensor]]
    checkpoint: Path | None
    images_per_second: float
    steps: int = 0
    seconds: float = 0.0

    @property
    def best_generator(self) -> nn.Module:
        """Return the generator to sample from: the EMA copy when one was kept, else the raw generator."""
        return self.ema_generator if self.ema_generator is not None else self.generator
