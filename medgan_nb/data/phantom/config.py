"""DermSynth's classes and settings: class names and labels, HAM10000 counts, sizes and PhantomConfig.

The seven class names (DermaMNIST / HAM10000 label order) and their "-like" display names,
the label constants that the stage modules key their per-class tables on, the number of
HAM10000 images per diagnosis behind the ``"ham10000"`` class prior, the supported image
sizes, and :class:`PhantomConfig`, which checks and holds the class priors, skin-tone range
and artefact switches and probabilities of one rendering.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
DISPLAY_NAMES: tuple[str, ...] = tuple(f"{name}-like" for name in CLASS_NAMES)
AKIEC, BCC, BKL, DF, MEL, NV, VASC = range(len(CLASS_NAMES))

#: Number of images per diagnosis in HAM10000 (Tschandl et al. 2018).
HAM10000_COUNTS: dict[str, int] = {
    "nv": 6705, "mel": 1113, "bkl": 1099, "bcc": 514, "akiec": 327, "vasc": 142, "df": 115,
}
PRIOR_NAMES = ("uniform", "ham10000")
MIN_SIZE, MAX_SIZE = 28, 256


@dataclass(frozen=True)
class PhantomConfig:
    """Settings of the DermSynth phantom: class priors, skin tones and artefacts (each switchable)."""

    class_priors: str | tuple[float, ...] = "uniform"  # "uniform", "ham10000" or 7 weights in label order
    skin_tones: tuple[int, int] = (1, 6)  # smallest and largest Fitzpatrick-like type drawn
    hairs: bool = True
    ruler: bool = True
    bubbles: bool = True
    vignette: bool = True
    glints: bool = True
    hair_probability: float = 0.35
    ruler_probability: float = 0.08
    bubble_probability: float = 0.10
    vignette_probability: float = 0.13
    glint_probability: float = 0.15

    def __post_init__(self) -> None:
        priors = self.class_priors
        if isinstance(priors, str):
            if priors not in PRIOR_NAMES:
                raise ValueError(
                    f"unknown class_priors {priors!r}; use 'uniform', 'ham10000' "
                    f"or {len(CLASS_NAMES)} non-negative weights in the order {CLASS_NAMES}"
                )
        else:
            weights = np.asarray(priors, dtype=float)
            if weights.shape != (len(CLASS_NAMES),) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(
                    f"class_priors must be 'uniform', 'ham10000' or {len(CLASS_NAMES)} non-negative "
                    f"weights (not all zero) in the order {CLASS_NAMES}; got {priors!r}"
                )
            object.__setattr__(self, "class_priors", tuple(float(w) for w in weights))
        low, high = self.skin_tones
        if not (1 <= low <= high <= 6) or int(low) != low or int(high) != high:
            raise ValueError(
                f"skin_tones must be two whole numbers 1 <= low <= high <= 6 (Fitzpatrick-like types); "
                f"got {self.skin_tones!r}, e.g. use (1, 6) for all tones"
            )
        for field in dataclasses.fields(self):
            if field.name.endswith("_probability"):
                value = getattr(self, field.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{field.name} must be a probability in [0, 1]; got {value!r}")

    @classmethod
    def clean(cls, **overrides) -> "PhantomConfig":
        """Return a config with every artefact switched off (other fields may be overridden)."""
        off = dict(hairs=False, ruler=False, bubbles=False, vignette=False, glints=False)
        off.update(overrides)
        return cls(**off)

    @property
    def artefacts(self) -> bool:
        """Return True when at least one artefact is switched on."""
        return self.hairs or self.ruler or self.bubbles or self.vignette or self.glints

    def priors(self) -> np.ndarray:
        """Return the class probabilities (7, summing to 1) in label order."""
        if self.class_priors == "uniform":
            weights = np.ones(len(CLASS_NAMES))
        elif self.class_priors == "ham10000":
            weights = np.array([HAM10000_COUNTS[name] for name in CLASS_NAMES], dtype=float)
        else:
            weights = np.asarray(self.class_priors, dtype=float)
        return weights / weights.sum()
