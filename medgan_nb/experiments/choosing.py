r"""Notebook 09's experiments: how much a GAN family's result depends on its settings, and a DDPM beside the GANs.

**Sensitivity.** A family's score at one setting says little: a better family and a luckier setting look
alike. The survey the course follows trained about 100 configurations per model and found DCGAN and LSGAN
widely spread, WGAN and StyleGAN more robust. Here each family gets a *seeded random search* over the
settings that matter (:data:`SEARCH_SPACE`): learning rates drawn log-uniformly, Adam's betas, the batch
size, ``n_critic`` and the penalty weight (gradient penalty, R1). Its first configuration is always the
registry's default, so the ranking "at default settings" comes out of the same study.

Every configuration is trained through the kit's one engine (:func:`~medgan_nb.experiments.families.train_family`)
with **one budget**, a number of *epochs*: passes of the discriminator over the training images. A batch of
64 therefore takes half the generator steps of a batch of 32, and a critic with ``n_critic = 5`` gives the
generator a fifth of the steps, as it would within a fixed training time. Each run is scored by the Fréchet
distance to held-out images in the reference's feature space, with its bootstrap interval.

A configuration *fails* in one of two ways, both detected and reported, never dropped:

* **diverged**: a loss became NaN or infinite (the engine raises :class:`~medgan_nb.train.TrainingDiverged`),
  or the samples are not finite;
* **collapsed**: the samples hardly differ from one another. The per-pixel standard deviation across the
  samples, averaged over pixels, is below :data:`COLLAPSE_RATIO` of the real images' (a generator that draws
  one image for every z scores 0; real lesions vary in place, size and colour). Mode collapse shows this way,
  and so does a generator that has not yet left its initial state, which draws nearly the same blur for every
  z: at the search's budget both mean the setting failed.

**A diffusion model on the same table.** See :mod:`medgan_nb.models.diffusion` for the DDPM itself; this
module draws its samples, times them, and hands them to notebook 07's :func:`~medgan_nb.experiments.evaluation.evaluate_images`.
"""
from __future__ import annotations

import math
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..metrics.bootstrap import frechet_interval
from ..metrics.fid import sample_generator
from ..metrics.uncertainty import NO_CLEAR_DIFFERENCE, differs, interval_se, pick_winner
from ..models import family_settings, get_family
from ..train import TrainingDiverged
from .evaluation import class_labels_like
from .families import train_family

COLLAPSE_RATIO = 0.25  # samples whose pixel spread is below a quarter of the real images' count as collapsed


# ----------------------------------------------------------------------------
# The search space
# ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LogUniform:
    """A setting drawn log-uniformly from [low, high] (learning rates, penalty weights: their scale matters)."""

    low: float
    high: float

    def draw(self, rng: np.random.Generator) -> float:
        """Return one value, rounded to 3 significant digits so that tables stay readable."""
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return float(f"{value:.3g}")

    def __str__(self) -> str:
        return f"log-uniform [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Choice:
    """A setting drawn uniformly from a few options (betas, batch sizes, critic steps)."""

    options: tuple

    def draw(self, rng: np.random.Generator) -> Any:
        """Return one of the options."""
        return self.options[int(rng.integers(len(self.options)))]

    def __str__(self) -> str:
        return "one of " + ", ".join(str(option) for option in self.options)


#: the settings a search may vary, all TrainConfig fields
SETTINGS = ("lr_g", "lr_d", "betas", "batch_size", "n_critic", "gp_weight", "r1_gamma")

_SHARED = {"lr_g": LogUniform(2e-5, 2e-3), "lr_d": LogUniform(2e-5, 2e-3),
           "betas": Choice(((0.5, 0.999), (0.0, 0.9), (0.0, 0.99))), "batch_size": Choice((16, 32, 64))}

#: per family, the settings that matter and their ranges (each family's own extras: critic steps, penalties)
SEARCH_SPACE: dict[str, dict[str, LogUniform | Choice]] = {
    "dcgan": dict(_SHARED),
    "lsgan": dict(_SHARED),
    "wgan-gp": {**_SHARED, "n_critic": Choice((1, 2, 5)), "gp_weight": LogUniform(1.0, 100.0)},
    "hinge-sn": {**_SHARED, "n_critic": Choice((1, 2))},
    "stylegan": {**_SHARED, "r1_gamma": LogUniform(0.01, 10.0)},
}


def check_search_space(space: dict[str, dict[str, Any]]) -> None:
    """Raise a ValueError naming the problem and the fix for an empty space, an unknown family or setting."""
    if not space:
        raise ValueError("the search space is empty: give at least one family, e.g. "
                         "{name: SEARCH_SPACE[name] for name in ('dcgan', 'wgan-gp')}")
    for name, settings in space.items():
        get_family(name)  # an unknown family fails here, with the list of known ones
        if not settings:
            raise ValueError(f"the search space of {name!r} has no settings to vary; give it at least one of "
                             f"{', '.join(SETTINGS)} (or drop the family)")
        unknown = [key for key in settings if key not in SETTINGS]
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for {name!r}; a search varies only {', '.join(SETTINGS)}")
        for key, draw in settings.items():
            if not isinstance(draw, (LogUniform, Choice)):
                raise ValueError(f"{name}.{key} must be a LogUniform(low, high) or a Choice(options), got {draw!r}")


def search_space(families: Sequence[str]) -> dict[str, dict[str, LogUniform | Choice]]:
    """Return :data:`SEARCH_SPACE` restricted to ``families``, with a clear error for a family it has no space for."""
    if not families:
        raise ValueError(f"no families to search; give some of {', '.join(SEARCH_SPACE)}")
    for name in families:
        get_family(name)  # an unknown family fails here, with the list of known ones
        if name not in SEARCH_SPACE:
            raise ValueError(f"{name!r} has no search space in choosing.SEARCH_SPACE (searched families: "
                             f"{', '.join(SEARCH_SPACE)}); add one, e.g. SEARCH_SPACE[{name!r}] = dict(SEARCH_SPACE['dcgan'])")
    return {name: SEARCH_SPACE[name] for name in families}


def default_settings(name: str, searched: Sequence[str], batch_size: int) -> dict[str, Any]:
    """Return the registry's settings of family ``name`` for the ``searched`` keys (the batch size the run's)."""
    recommended = {"n_critic": 1, "gp_weight": 0.0, "r1_gamma": 0.0, **family_settings(name), "batch_size": batch_size}
    return {key: recommended[key] for key in searched}


def draw_configurations(space: dict[str, dict[str, Any]], n_per_family: int, seed: int = 0,
                        default_batch_size: int = 32) -> list[dict[str, Any]]:
    """Return ``n_per_family`` configurations per family: the registry's default first, then random draws.

    The draws of a family depend only on ``seed`` and the family's name, so adding a family to the space
    does not change the others' configurations.
    """
    check_search_space(space)
    if n_per_family < 1:
        raise ValueError(f"n_per_family must be >= 1 (the default configuration counts as one), got {n_per_family}")
    configurations = []
    for name, settings in space.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        configurations.append({"family": name, "index": 0, "label": "default",
                               "settings": default_settings(name, list(settings), default_batch_size)})
        for index in range(1, n_per_family):
            configurations.append({"family": name, "index": index, "label": "random",
                                   "settings": {key: draw.draw(rng) for key, draw in settings.items()}})
    return configurations


# ----------------------------------------------------------------------------
# Running the search
# ----------------------------------------------------------------------------

def steps_for(epochs: float, n_images: int, batch_size: int, n_critic: int) -> int:
    """Return the generator steps of ``epochs`` passes of the critic over ``n_images``: the one budget of the search."""
    return max(1, math.ceil(epochs * n_images / (batch_size * n_critic)))


def _fd_interval(reference_features: torch.Tensor, images: torch.Tensor, extractor: nn.Module, n_boot: int,
                 seed: int):
    """Return the Fréchet distance of ``images`` to the reference with its bootstrap interval.

    With fewer images than feature dimensions (N <= D) every distance here is biased upwards alike (the notebook
    says so), so the rank-deficiency warning is not repeated for each configuration.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*rank-deficient.*")
        return frechet_interval(reference_features, images, extractor, n_boot=n_boot, seed=seed)


def pixel_spread(images: torch.Tensor) -> float:
    """Return the per-pixel standard deviation across a set of images, averaged over pixels (0 = all identical)."""
    return float(images.float().std(dim=0).mean())


def run_configuration(configuration: dict[str, Any], images: torch.Tensor, reference_features: torch.Tensor,
                      extractor: nn.Module, *, epochs: float, real_spread: float, budget: str = "cpu",
                      width: int | None = None, seed: int = 0, device: str | None = None,
                      n_boot: int = 50) -> tuple[dict[str, Any], nn.Module | None]:
    """Train one configuration and return (its result row, its generator or None when it diverged)."""
    name, settings = configuration["family"], dict(configuration["settings"])
    batch_size = min(int(settings.pop("batch_size")), len(images))
    steps = steps_for(epochs, len(images), batch_size, int(settings.get("n_critic", family_settings(name).get("n_critic", 1))))
    row = {**{k: configuration[k] for k in ("family", "index", "label")}, "settings": configuration["settings"],
           "steps": steps, "status": "ok", "fd": math.nan, "fd_low": math.nan, "fd_high": math.nan,
           "spread_ratio": math.nan, "seconds": math.nan, "why": ""}
    start = time.perf_counter()
    try:
        trained = train_family(name, images, steps=steps, batch_size=batch_size, budget=budget, width=width, seed=seed,
                               device=device, progress=False, log_points=20, **settings)
    except TrainingDiverged as diverged:
        row.update(status="diverged", seconds=time.perf_counter() - start, why=f"a NaN or infinite loss: {diverged}")
        return row, None
    row["seconds"] = trained.seconds
    samples = sample_generator(trained.generator, len(reference_features), seed=seed + 1)
    if not bool(torch.isfinite(samples).all()):
        row.update(status="diverged", why="the generator draws NaN or infinite pixels")
        return row, None
    row["spread_ratio"] = pixel_spread(samples) / real_spread
    interval = _fd_interval(reference_features, samples, extractor, n_boot, seed)
    row.update(fd=interval.estimate, fd_low=interval.low, fd_high=interval.high)
    if row["spread_ratio"] < COLLAPSE_RATIO:
        row.update(status="collapsed", why=f"the samples' pixel spread is {row['spread_ratio']:.0%} of the real "
                                           f"images' (below {COLLAPSE_RATIO:.0%}): nearly one image for every z")
    return row, trained.generator


def run_search(configurations: list[dict[str, Any]], images: torch.Tensor, reference_features: torch.Tensor,
               real_images: torch.Tensor, extractor: nn.Module, *, epochs: float, budget: str = "cpu",
               width: int | None = None, seed: int = 0, device: str | None = None, n_boot: int = 50,
               progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, nn.Module]]:
    """Train every configuration with one budget; return (one row each, the best generator of each family).

    ``reference_features`` are the held-out images' features in ``extractor``'s space, ``real_images`` the
    held-out images themselves (their pixel spread is the yardstick of a collapse).
    """
    if epochs <= 0:
        raise ValueError(f"epochs must be > 0 (passes of the critic over the training images), got {epochs}")
    real_spread = pixel_spread(real_images)
    rows, best, best_key = [], {}, {}
    bar = tqdm(configurations, desc="configurations", disable=not progress)
    for configuration in bar:
        bar.set_postfix_str(f"{configuration['family']} #{configuration['index']}")
        row, generator = run_configuration(configuration, images, reference_features, extractor, epochs=epochs,
                                           real_spread=real_spread, budget=budget, width=width, seed=seed,
                                           device=device, n_boot=n_boot)
        rows.append(row)
        # the lowest distance among the runs that succeeded; a collapsed run only when none did (never a diverged one)
        key = (row["status"] != "ok", row["fd"])
        if generator is not None and row["label"] != "planted" and key < best_key.get(row["family"], (True, math.inf)):
            best[row["family"]], best_key[row["family"]] = generator, key
    return rows, best


def best_gan(ranking: dict[str, Any], generators: dict[str, nn.Module]) -> str:
    """Return the family whose best configuration has the lowest distance and a generator to sample (see run_search)."""
    for name in ranking["best_order"]:
        if name in generators:
            return name
    if generators:  # no configuration succeeded: the least bad of the collapsed runs (its row's name says so)
        return next(iter(generators))
    raise ValueError("every configuration of every family diverged, so there is no GAN to compare; raise `epochs` "
                     "or lower the learning rates of the search space")


# ----------------------------------------------------------------------------
# Reading the search
# ----------------------------------------------------------------------------

def _se(row: dict[str, Any]) -> float:
    return interval_se(row["fd_low"], row["fd_high"]) if math.isfinite(row["fd"]) else math.inf


def family_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return per family: configurations, failures, median / min / max distance, the default's and the best's rows."""
    summary = {}
    for name in dict.fromkeys(row["family"] for row in rows):
        own = [row for row in rows if row["family"] == name]
        ok = [row for row in own if row["status"] == "ok"]
        distances = [row["fd"] for row in ok]
        summary[name] = {
            "configurations": len(own), "failed": len(own) - len(ok),
            "failures": {status: sum(row["status"] == status for row in own) for status in ("diverged", "collapsed")},
            "median": float(np.median(distances)) if ok else math.nan,
            "min": min(distances, default=math.nan), "max": max(distances, default=math.nan),
            "default": next(row for row in own if row["label"] == "default") if any(r["label"] == "default" for r in own) else None,
            "best": min(ok, key=lambda row: row["fd"]) if ok else None,
            "worst": max(ok, key=lambda row: row["fd"]) if ok else None,
        }
    return summary


def summary_record(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return :func:`family_summary` for metrics.json: the counts and distances, the default's, the best's and its settings."""
    record = {}
    for name, family in summary.items():
        record[name] = {key: family[key] for key in ("configurations", "failed", "failures", "median", "min", "max")}
        record[name]["default_fd"] = family["default"]["fd"] if family["default"] else None
        record[name]["best_fd"] = family["best"]["fd"] if family["best"] else None
        record[name]["best_settings"] = family["best"]["settings"] if family["best"] else None
    return record


def mean_of(values: Sequence[float]) -> float:
    """Return the mean of a few recorded values (NaN for none)."""
    return float(np.mean(values)) if len(values) else math.nan


def robustness_verdicts(summary: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Return per family whether it is robust here: no failed configuration and best and worst not clearly apart."""
    verdicts = {}
    for name, family in summary.items():
        best, worst = family["best"], family["worst"]
        if best is None:
            verdicts[name] = f"every configuration failed ({family['failed']} of {family['configurations']})"
            continue
        apart = differs(best["fd"], worst["fd"], _se(best), _se(worst))
        ratio = worst["fd"] / max(best["fd"], 1e-12)
        failed = f"{family['failed']} of {family['configurations']} failed" if family["failed"] else "none failed"
        if family["configurations"] - family["failed"] == 1:
            verdicts[name] = (f"sensitive: {failed}; only one configuration succeeded" if family["failed"] else
                              "one configuration only: nothing to compare it with")
        elif family["failed"] or apart:
            verdicts[name] = f"sensitive: {failed}, worst / best distance {ratio:.1f}x"
        else:
            verdicts[name] = (f"robust here: none failed, best and worst within their intervals "
                              f"(worst / best {ratio:.1f}x, {NO_CLEAR_DIFFERENCE})")
    return verdicts


def ranking_verdict(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the clear winner at default settings, at each family's best setting, and a sentence comparing them.

    A winner is named only when its distance lies more than two standard errors below every other family's
    (:func:`~medgan_nb.metrics.uncertainty.pick_winner`); a failed default counts as infinitely far.
    """
    def winner(which: str) -> str | None:
        rows = {name: family[which] for name, family in summary.items()}
        values = {name: (row["fd"] if row is not None and row["status"] == "ok" else math.inf) for name, row in rows.items()}
        errors = {name: (_se(row) if row is not None and row["status"] == "ok" else 0.0) for name, row in rows.items()}
        return pick_winner(values, errors, lower_is_better=True)

    at_default, at_best = winner("default"), winner("best")
    def order(which: str) -> list[str]:  # the families whose row succeeded, by distance
        ok = [name for name in summary if (summary[name][which] or {}).get("status") == "ok"]
        return sorted(ok, key=lambda name: summary[name][which]["fd"])

    if at_default is None and at_best is None:
        sentence = f"neither at default settings nor at their best does one family lead clearly: {NO_CLEAR_DIFFERENCE}"
    elif at_default == at_best:
        sentence = f"{at_best} leads clearly both at default settings and at its best setting"
    else:
        sentence = (f"the ranking changes with tuning: at default settings "
                    f"{at_default or 'no family leads clearly'}, at each family's best setting "
                    f"{at_best or 'no family leads clearly'}")
    return {"default_winner": at_default, "best_winner": at_best, "default_order": order("default"),
            "best_order": order("best"), "sentence": sentence}


def settings_text(settings: dict[str, Any]) -> str:
    """Return a configuration's settings as one short line (learning rates in scientific notation)."""
    parts = []
    for key, value in settings.items():
        if key.startswith("lr") or key in ("gp_weight", "r1_gamma"):
            parts.append(f"{key}={value:.2g}")
        elif key == "betas":
            parts.append(f"betas=({value[0]:g}, {value[1]:g})")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


# ----------------------------------------------------------------------------
# The profiles, and the planted failure
# ----------------------------------------------------------------------------

#: notebook 09's knobs per profile (``start(..., defaults=PROFILE_DEFAULTS)``); ``steps`` are the DDPM's training steps
PROFILE_DEFAULTS = {
    "smoke": dict(image_size=32, steps=30, batch_size=16, families=["dcgan", "wgan-gp"], n_configs=2, epochs=0.5,
                  plant_failure=True, diffusion_width=8, diffusion_lr=1e-3, noise_schedule="cosine", timesteps=50,
                  ddpm_steps=50, ddim_steps=[5, 10], n_images=400, n_eval=64, n_boot=10, c2st_epochs=5,
                  utility_epochs=2, n_utility=100),
    "cpu": dict(image_size=32, steps=1500, batch_size=32, families=list(SEARCH_SPACE), n_configs=4, epochs=4,
                plant_failure=True, diffusion_width=16, diffusion_lr=1e-3, noise_schedule="cosine", timesteps=250,
                ddpm_steps=250, ddim_steps=[10, 25, 50], n_images=2000, n_eval=300, n_boot=50, c2st_epochs=10,
                utility_epochs=4, n_utility=600),
    "gpu": dict(image_size=64, steps=30000, batch_size=64, families=list(SEARCH_SPACE), n_configs=16, epochs=20,
                plant_failure=True, diffusion_width=64, diffusion_lr=2e-4, noise_schedule="cosine", timesteps=1000,
                ddpm_steps=1000, ddim_steps=[10, 25, 50, 100], n_images=8000, n_eval=2000, n_boot=200,
                c2st_epochs=10, utility_epochs=15, n_utility=4000),
}

#: learning rates of 10^30: Adam moves every weight by about that much in the first step, so the losses overflow
#: to inf or NaN (a learning rate of 10 is not enough: at a small width it sometimes still draws varied blurs)
PLANTED_LEARNING_RATE = 1e30


def planted_failure(name: str, batch_size: int = 32) -> dict[str, Any]:
    """Return a configuration of family ``name`` with absurd learning rates: the failure detector must flag it."""
    get_family(name)
    return {"family": name, "index": -1, "label": "planted",
            "settings": {"lr_g": PLANTED_LEARNING_RATE, "lr_d": PLANTED_LEARNING_RATE, "batch_size": batch_size}}


# ----------------------------------------------------------------------------
# The GANs and the DDPM on one table
# ----------------------------------------------------------------------------

def train_partner(name: str, train_set, *, epochs: float, budget: str = "cpu", batch_size: int = 32, seed: int = 0,
                  device: str | None = None):
    """Return a class-conditional family trained at its default settings with the search's budget (``epochs``)."""
    family = get_family(name)
    if family.conditioning != "class":
        raise ValueError(f"{name!r} is conditioned on {family.conditioning!r}; the DDPM's partner must be "
                         f"class-conditional (cgan, projection or biggan)")
    batch_size = min(batch_size, len(train_set))
    steps = steps_for(epochs, len(train_set), batch_size, int(family_settings(name).get("n_critic", 1)))
    return train_family(name, train_set, labels=train_set.labels, steps=steps, batch_size=batch_size, budget=budget,
                        seed=seed, device=device, progress=False, log_points=20)


def _timed(draw) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    images = draw()
    return images, time.perf_counter() - start


def gan_row_name(name: str, summary: dict[str, dict[str, Any]]) -> str:
    """Return the table name of family ``name``'s best configuration, saying so when every one of them failed."""
    return f"{name} (best configuration)" if summary[name]["best"] is not None else f"{name} (best of failed runs)"


def sampling_costs(unet: nn.Module, scheduler, gan: nn.Module, gan_row: str, ddpm_steps: int,
                   ddim_steps: Sequence[int], reference, class_labels: torch.Tensor, seed: int = 0,
                   device: str | torch.device | None = None) -> dict[str, Any]:
    """Draw as many images as the reference holds from the GAN, the DDPM sampler and DDIM at each step count.

    Returns ``rows`` (per sampler: network passes per image, seconds per image measured while drawing, and
    the Fréchet distance with its interval), ``samples`` (name -> images) and the class ``labels`` the DDPM
    was asked for (drawn in the proportions of ``class_labels``).
    """
    from ..models import diffusion

    if not ddim_steps:
        raise ValueError("ddim_steps is empty; give the DDIM step counts to try, e.g. [10, 25, 50]")
    n = len(reference.images)
    labels = class_labels_like(class_labels, n, seed=seed + 1)
    ddim = diffusion.ddim_from(scheduler)
    draws = {gan_row: (1, lambda: sample_generator(gan, n, seed=seed + 1)),
             f"DDPM ({ddpm_steps} steps)": (ddpm_steps, lambda: diffusion.sample(
                 unet, scheduler, n, steps=ddpm_steps, seed=seed + 1, labels=labels, device=device))}
    for k in sorted(ddim_steps):
        draws[f"DDIM ({k} steps)"] = (k, lambda k=k: diffusion.sample(unet, ddim, n, steps=k, seed=seed + 1,
                                                                       labels=labels, device=device))
    rows, samples = [], {}
    for name, (passes, draw) in tqdm(draws.items(), desc="samplers"):
        samples[name], seconds = _timed(draw)
        interval = _fd_interval(reference.features, samples[name], reference.extractor, reference.n_boot, seed)
        rows.append({"sampler": name, "network_passes": passes, "seconds_per_image": seconds / n,
                     "fd": interval.estimate, "fd_low": interval.low, "fd_high": interval.high})
    return {"rows": rows, "samples": samples, "labels": labels}


def class_samples(trained, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Return one image per label from a trained class-conditional family (z from ``seed``)."""
    generator = getattr(trained, "generator", trained)
    return sample_generator(generator, len(labels), seed=seed, labels=labels)


def add_utility(table: dict[str, dict[str, Any]], synthetic: dict[str, tuple[torch.Tensor, torch.Tensor]],
                train_images: torch.Tensor, train_labels: torch.Tensor, test_images: torch.Tensor,
                test_labels: torch.Tensor, num_classes: int, epochs: int, seed: int = 0) -> float:
    """Put TSTR (train on synthetic, test on real) into the rows named in ``synthetic``; return TRTR (train on real).

    ``synthetic`` maps a table row to (images, their labels); every other generated row gets None (an
    unconditional generator has no labels to train a classifier with).
    """
    from ..metrics.utility import classifier_accuracy

    options = dict(num_classes=num_classes, epochs=epochs, seed=seed, progress=False)
    trtr = classifier_accuracy(train_images, train_labels, test_images, test_labels, **options)
    for name, row in table.items():
        if name in synthetic:
            images, labels = synthetic[name]
            row["tstr"] = classifier_accuracy(images, labels, test_images, test_labels, **options)
        else:
            row["tstr"] = trtr if name == "real (floor)" else None
    return trtr


def sampler_verdict(rows: list[dict[str, Any]]) -> str:
    """Return how the best DDIM step count compares with the full DDPM chain in distance, and what it costs."""
    from ..metrics.uncertainty import comparison_sentence

    ddpm = next(row for row in rows if row["sampler"].startswith("DDPM"))
    best = min((row for row in rows if row["sampler"].startswith("DDIM")), key=lambda row: row["fd"])
    sentence = comparison_sentence(best["sampler"], best["fd"], _se(best), ddpm["sampler"], ddpm["fd"], _se(ddpm),
                                   "Fréchet distance")
    return f"{sentence}; {best['sampler']} needs {best['network_passes'] / ddpm['network_passes']:.0%} of the DDPM's network passes"


def comparison_verdicts(table: dict[str, dict[str, Any]], gan: str, diffusion: Sequence[str], n_test: int,
                        num_classes: int) -> dict[str, str]:
    """Return the computed verdicts of the comparison: fidelity, realism, coverage, utility, cost, and SkinGenBench's.

    The GAN row is set against the diffusion model's row with the lower Fréchet distance among ``diffusion``
    (its DDPM and DDIM samplers). Fidelity is decided by the Fréchet distance and its bootstrap interval,
    realism (precision: the share of samples that land among real images) and coverage by their binomial
    error over the generated images, utility by TSTR's binomial error on the ``n_test`` test images (compared
    only when TRTR, the floor row's ``tstr``, is itself clearly above the chance level 1 / ``num_classes``);
    each says "no clear difference at this budget" when the gap is within two standard errors.
    """
    from ..metrics.uncertainty import above_chance, comparison_sentence, share_se

    g = table[gan]
    ddpm = min(diffusion, key=lambda name: table[name]["fd"])
    d = table[ddpm]

    def shares(metric: str) -> str:
        return comparison_sentence(gan, g[metric], share_se(g[metric], int(g["n_images"])), ddpm, d[metric],
                                   share_se(d[metric], int(d["n_images"])), metric, lower_is_better=False, fmt=".2f")

    fidelity = comparison_sentence(gan, g["fd"], _se(g), ddpm, d["fd"], _se(d), "Fréchet distance")
    conditional = {name: row["tstr"] for name, row in table.items() if name != "real (floor)" and row.get("tstr") is not None}
    trtr = table.get("real (floor)", {}).get("tstr")
    if trtr is not None and not above_chance(trtr, 1 / num_classes, n_test):
        utility = (f"{NO_CLEAR_DIFFERENCE}: TRTR {trtr:.2f} (a classifier trained on real images) is itself not "
                   f"clearly above chance ({1 / num_classes:.2f} on {n_test} images), so TSTR has no reference")
    elif len(conditional) == 2:
        (a, ta), (b, tb) = conditional.items()
        utility = comparison_sentence(a, ta, share_se(ta, n_test), b, tb, share_se(tb, n_test), "TSTR",
                                      lower_is_better=False, fmt=".2f")
    else:
        utility = "TSTR needs two class-conditional rows"
    ratio = d["seconds_per_image"] / max(g["seconds_per_image"], 1e-12)
    cost = (f"{ddpm} costs {ratio:,.0f}x the GAN per image ({1e3 * d['seconds_per_image']:.2f} ms against "
            f"{1e3 * g['seconds_per_image']:.3f} ms)")
    finding = "SkinGenBench (HAM10000): StyleGAN2-ADA ahead of a DDPM in FID and KID"
    skingenbench = (f"agrees with {finding}" if fidelity.startswith(f"{gan} is clearly") else
                    f"differs from {finding}: here the diffusion model is ahead" if fidelity.startswith(f"{ddpm} is clearly")
                    else f"{NO_CLEAR_DIFFERENCE}, so this run neither confirms nor contradicts {finding}")
    return {"fidelity": fidelity, "realism": shares("precision"), "coverage": shares("coverage"), "utility": utility,
            "cost": cost, "skingenbench": skingenbench + " (at this notebook's budget and size, far from either paper's)"}


def add_costs(table: dict[str, dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Copy each sampler's seconds per image and network passes into the table row of the same name."""
    for row in rows:
        if row["sampler"] in table:
            table[row["sampler"]].update(seconds_per_image=row["seconds_per_image"], network_passes=row["network_passes"])


# ----------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------

def plot_sensitivity(rows: list[dict[str, Any]], floor_fd: float | None = None,
                     title: str = "Distance to real images over each family's configurations"):
    """Strip plot of every configuration's distance per family (the survey's Fig. 1), failures drawn above the axis.

    Each dot is one configuration (the registry's default a star), with its bootstrap interval as a thin bar;
    a configuration that diverged or collapsed is a red cross in the band above the plot, so a failure is
    seen, not dropped. The dashed line is the real-vs-real floor.
    """
    import matplotlib.pyplot as plt

    from ..viz.layout import finish

    names = list(dict.fromkeys(row["family"] for row in rows))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(names) + 2.5), 4.2))
    finite = [row["fd"] for row in rows if row["status"] == "ok"] + ([floor_fd] if floor_fd else [])
    top = max(finite, default=1.0) * 3
    jitter = np.random.default_rng(0)
    for x, name in enumerate(names):
        own = [row for row in rows if row["family"] == name]
        for row in own:
            dx = jitter.uniform(-0.18, 0.18)
            if row["status"] != "ok":
                ax.scatter(x + dx, top, marker="x", color="tab:red", s=40, zorder=3)
                continue
            ax.vlines(x + dx, row["fd_low"], row["fd_high"], color="0.6", linewidth=0.8)
            ax.scatter(x + dx, row["fd"], marker="*" if row["label"] == "default" else "o",
                       s=110 if row["label"] == "default" else 28, color="tab:orange" if row["label"] == "default"
                       else "tab:blue", edgecolor="k", linewidth=0.4, zorder=3)
        ok = [row["fd"] for row in own if row["status"] == "ok"]
        if ok:
            ax.hlines(np.median(ok), x - 0.3, x + 0.3, color="k", linewidth=1.5)
    if floor_fd:
        ax.axhline(floor_fd, color="tab:green", linestyle="--", linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("Fréchet distance (log scale)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], marker="*", color="tab:orange", markeredgecolor="k", linestyle="", markersize=11,
                          label="default settings"),
               plt.Line2D([], [], marker="o", color="tab:blue", markeredgecolor="k", linestyle="", label="random configuration"),
               plt.Line2D([], [], color="k", label="median of the family"),
               plt.Line2D([], [], marker="x", color="tab:red", linestyle="", label="failed (diverged or collapsed), drawn at the top")]
    if floor_fd:
        handles.append(plt.Line2D([], [], color="tab:green", linestyle="--", label="real vs real floor"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return finish(fig)


def plot_sampling_costs(rows: list[dict[str, Any]], floor_fd: float | None = None,
                        title: str = "What an image costs, and what it buys"):
    """Two panels: seconds per image against network passes (log-log), and the distance each sampler reached."""
    import matplotlib.pyplot as plt

    from ..viz.layout import finish

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        kind = "GAN" if row["network_passes"] == 1 and "DD" not in row["sampler"] else row["sampler"].split()[0]
        style = {"GAN": ("tab:orange", "*", 160), "DDPM": ("tab:red", "s", 50), "DDIM": ("tab:blue", "o", 40)}[kind]
        for ax, y in ((left, row["seconds_per_image"]), (right, row["fd"])):
            ax.scatter(row["network_passes"], y, color=style[0], marker=style[1], s=style[2], zorder=3,
                       label=row["sampler"])
        right.vlines(row["network_passes"], row["fd_low"], row["fd_high"], color=style[0], linewidth=1)
    ddim = sorted((r for r in rows if r["sampler"].startswith("DDIM")), key=lambda r: r["network_passes"])
    if len(ddim) > 1:
        left.plot([r["network_passes"] for r in ddim], [r["seconds_per_image"] for r in ddim], color="tab:blue", lw=1)
        right.plot([r["network_passes"] for r in ddim], [r["fd"] for r in ddim], color="tab:blue", lw=1)
    if floor_fd:
        right.axhline(floor_fd, color="tab:green", linestyle="--", label="real vs real floor")
    left.set(xscale="log", yscale="log", xlabel="network passes per image (log)", ylabel="seconds per image (log)",
             title="Cost per image")
    right.set(xscale="log", yscale="log", xlabel="network passes per image (log)", ylabel="Fréchet distance (log)",
              title="Distance to real images")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.suptitle(title)
    return finish(fig)
