"""Build the reference checkpoints of :mod:`medgan_nb.weights`: the recipe of each, run with the kit's own engine.

Each recipe names the phantom data, the family and its build settings, and the training settings. Building one
renders the data, trains the family with :func:`~medgan_nb.experiments.families.train_family`, measures what the
notebooks measure (the Fréchet distance to held-out phantoms before and after training; for a class-conditional
family, the per-class accuracy of an independent classifier trained on the real training images, the judge of
notebook 04), and writes the half-precision weights with their model card::

    python -m medgan_nb.experiments.references projection_ac     # one reference
    python -m medgan_nb.experiments.references                   # every recipe

The data are phantoms only: no patient image goes into a shipped checkpoint.
"""
from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np
import torch

from ..data import load_dataset
from ..metrics import classifier as clf
from ..train import family_config
from ..weights import reference_card, save_reference
from .conditional import sample_classes
from .families import train_family

# name -> recipe. "data": load_dataset("phantom", ...) options; "build": build_family options (also what
# load_reference builds); "train": train_family's steps, batch size, seed and TrainConfig overrides
RECIPES: dict[str, dict[str, Any]] = {
    # notebook 04: the projection GAN with AC-GAN's auxiliary classifier, at the notebook's cpu size and width
    "projection_ac": {
        "family": "projection",
        "data": {"size": 32, "n": 2000, "prior": "ham10000", "seed": 0},
        "build": {"image_size": 32, "budget": "cpu", "width": 12, "num_classes": 7, "class_head": True},
        "train": {"steps": 6000, "batch_size": 32, "seed": 0, "class_weight": 1.0},
        "judge": {"epochs": 8, "seed": 7, "n_per_class": 60},
        "used_by": "notebooks/04_conditional_generation.ipynb, section 7",
    },
}


def judge_accuracy(generator, train_set, n_per_class: int, epochs: int, seed: int) -> dict[str, Any]:
    """Return the per-class accuracy of an independent classifier (trained on ``train_set``) on G's samples."""
    num_classes = len(train_set.class_names)
    judge = clf.train_classifier(train_set.images, train_set.labels, num_classes, epochs=epochs, seed=seed,
                                 progress=False)
    samples, labels = sample_classes(generator, num_classes, n_per_class, seed=seed + 3)
    report = clf.evaluate_classifier(judge, samples, labels, num_classes)
    return {"judge_accuracy_mean": float(report.mean),
            "judge_accuracy_per_class": {name: float(v) for name, v in zip(train_set.class_names, report.per_class)},
            "judge_n_per_class": n_per_class, "judge_epochs": epochs, "judge_seed": seed}


def build_reference(name: str, folder=None, progress: bool = True) -> dict[str, Any]:
    """Train reference ``name`` from its recipe, write it with its model card (to ``folder``) and return the card."""
    if name not in RECIPES:
        raise ValueError(f"no recipe for a reference named {name!r}; known: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    data, build, train = recipe["data"], dict(recipe["build"]), dict(recipe["train"])
    options = {"n": data["n"], "prior": data["prior"], "seed": data["seed"], "progress": progress}
    train_set = load_dataset("phantom", size=data["size"], split="train", **options)
    heldout = load_dataset("phantom", size=data["size"], split="test", **options)
    build.pop("image_size")  # train_family takes the size from the data
    budget, width = build.pop("budget"), build.pop("width")
    steps, batch_size, seed = train.pop("steps"), train.pop("batch_size"), train.pop("seed")
    started = time.perf_counter()
    run = train_family(recipe["family"], train_set, steps=steps, batch_size=batch_size, budget=budget, width=width,
                       seed=seed, amp="off", heldout=heldout.images, heldout_labels=heldout.labels,
                       build_options=build, progress=progress, **train)
    metrics = {"fd": float(run.fd), "fd_untrained": float(run.fd_untrained),
               **judge_accuracy(run.generator, train_set, **{k: recipe["judge"][k] for k in ("n_per_class", "epochs",
                                                                                            "seed")})}
    card = {
        "family": recipe["family"], "build": recipe["build"],
        "data": (f"DermSynth phantom, {data['n']} images at {data['size']} px rendered with the {data['prior']} class "
                 f"prior (seed {data['seed']}); trained on its training split ({len(train_set)} images)"),
        "settings": {key: value for key, value in family_config(recipe["family"], data["size"], steps=steps,
                                                                batch_size=batch_size, seed=seed, **train).as_dict().items()
                     if key in ("loss", "lr_g", "lr_d", "betas", "n_critic", "ema_decay", "class_weight", "batch_size")},
        "steps": steps, "seed": seed, "metrics": metrics, "used_by": recipe["used_by"],
        "trained": (f"{time.perf_counter() - started:.0f} s on {platform.machine()} CPU "
                    f"({torch.get_num_threads()} threads), torch {torch.__version__}"),
        "reproduce": f"python -m medgan_nb.experiments.references {name}",
    }
    save_reference(name, run.generator, card, folder)
    return reference_card(name, folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the kit's reference checkpoints and write their model cards")
    parser.add_argument("names", nargs="*", help=f"references to build (default: all of {', '.join(RECIPES)})")
    args = parser.parse_args(argv)
    for name in args.names or list(RECIPES):
        card = build_reference(name)
        accuracy = card["metrics"].get("judge_accuracy_mean", np.nan)
        print(f"{name}: {card['steps']} steps, FD {card['metrics']['fd_untrained']:.2f} -> {card['metrics']['fd']:.2f}, "
              f"judge accuracy {accuracy:.3f}, {card['bytes'] / 1e6:.2f} MB, sha256 {card['sha256'][:12]}…")


if __name__ == "__main__":
    main()
