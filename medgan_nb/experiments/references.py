"""Build the reference checkpoints of :mod:`medgan_nb.weights`: the recipe of each, run with the kit's own engine.

Each recipe names the phantom data, the family and its build settings, and the training settings. Building one
renders the data, trains the family with :func:`~medgan_nb.experiments.families.train_family`, measures what the
notebooks measure, and writes the half-precision weights with their model card. What is measured depends on the
recipe's task:

* ``"class"`` (notebook 04): the Fréchet distance to held-out phantoms before and after training, and the
  per-class accuracy of an independent classifier trained on the real training images (the judge of notebook 04);
* ``"unconditional"`` (notebook 02): the Fréchet distance to held-out phantoms before and after training, beside
  the real-vs-real floor;
* ``"growth"`` (notebook 05, the progressive GAN): as ``"unconditional"``, and the generator at the end of every
  stage is kept in the checkpoint, with how far each stage moved the last one's 4x4 layout (the ratio of
  :func:`~medgan_nb.experiments.style_growth.layout_kept` and its interval);
* ``"hair"`` (notebook 06): a CycleGAN trained on unpaired hairy and hair-free phantoms, scored on held-out
  lesions against their true hair-free rendering (PSNR and SSIM), beside doing nothing (the hairy input itself);
* ``"tone"`` (notebook 06): a CycleGAN trained on unpaired light- and dark-skin phantoms, scored by whether the
  lesion survives light -> dark: the Otsu mask Dice against the true mask before and after the translation.

::

    python -m medgan_nb.experiments.references projection_ac     # one reference
    python -m medgan_nb.experiments.references                   # every recipe

The data are phantoms only: no patient image goes into a shipped checkpoint.
"""
from __future__ import annotations

import argparse
import platform
import time
from types import SimpleNamespace
from typing import Any

import torch

from ..data import load_dataset, random_subset
from ..metrics import classifier as clf
from ..metrics.fairness import group_of_type
from ..metrics.fid import frechet_distance
from ..metrics.uncertainty import mean_se
from ..models import build_family
from ..models.progressive import progressive_schedule
from ..models.translation import cycle_loss, translate_a_to_b, unpaired_pairs
from ..train import family_config
from ..weights import reference_card, save_reference
from . import responsible
from .conditional import sample_classes
from .families import FamilyRun, train_family
from .style_growth import StageSnapshots, layout_kept, stage_generators, stage_records
from .translation import (HAIR_BUILD, HAIR_CYCLE_WEIGHTS, mask_dice, paired_gain, render_hair_pairs,
                          render_skin_tone_pairs, restoration_scores)

# name -> recipe. "data": load_dataset("phantom", ...) options; "build": build_family options (also what
# load_reference builds); "train": train_family's steps, batch size, seed and TrainConfig overrides
# notebook 05's two references: its cpu size and width, phantoms from another seed than the notebook's
NOTEBOOK_05 = {"data": {"size": 32, "n": 3000, "prior": "ham10000", "seed": 1000},
               "build": {"image_size": 32, "budget": "cpu", "width": 8},
               "used_by": "notebooks/05_style_and_growth.ipynb, section 3b"}

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
    # notebook 02: the DCGAN of the notebook's cpu profile (64 px, width 32, the same network a student trains) run
    # four times longer with an EMA of G's weights; phantoms from another seed than the notebook's
    "dcgan_64": {
        "family": "dcgan",
        "task": "unconditional",
        "data": {"size": 64, "n": 3000, "prior": "ham10000", "seed": 1000},
        "build": {"image_size": 64, "budget": "cpu", "width": 32},
        "train": {"steps": 6000, "batch_size": 32, "seed": 0, "ema_decay": 0.999},
        "used_by": "notebooks/02_dcgan_skin_lesions.ipynb, section 6b",
    },
    # notebook 05: StyleGAN, ten times the notebook's 400 steps
    "stylegan_32": {"family": "stylegan", "task": "unconditional", **NOTEBOOK_05,
                    "train": {"steps": 4000, "batch_size": 16, "seed": 0}},
    # notebook 05: the progressive GAN, 40 times the notebook's 400 steps, sampled through the paper's EMA of G
    # (decay 0.999), every new block faded in over its whole stage (4,000 steps, against 50 in the notebook's run);
    # the generator at the end of every stage is kept, so the notebook can ask whether each stage kept the last
    # one's layout
    "progressive_32": {
        "family": "progressive",
        "task": "growth",
        **NOTEBOOK_05,
        "train": {"steps": 16000, "batch_size": 16, "seed": 0, "ema_decay": 0.999,
                  "schedule": progressive_schedule(32, fade_fraction=1.0)},
        "layout": {"n_z": 200, "seed": 5},
        "used_by": "notebooks/05_style_and_growth.ipynb, sections 3b and 9",
    },
    # notebook 06: the attention-gated CycleGAN that removes hairs, at the notebook's cpu size and width; its
    # lesions are rendered from another seed than the notebook's, so the notebook scores it on lesions it never saw
    "cyclegan_hair": {
        "family": "cyclegan",
        "task": "hair",
        "data": {"size": 32, "n": 2400, "seed": 1000, "n_test": 200},
        "build": {"image_size": 32, "budget": "cpu", "width": 16, **HAIR_BUILD},
        "train": {"steps": 3000, "batch_size": 8, "seed": 0, "generator_loss": cycle_loss(**HAIR_CYCLE_WEIGHTS)},
        "used_by": "notebooks/06_masks_and_translation.ipynb, section 8",
    },
    # notebook 06: the plain CycleGAN (the paper's weights) that translates light to dark skin, at the notebook's cpu
    # size and width; lesions from another seed than the notebook's
    "cyclegan_skin_tone": {
        "family": "cyclegan",
        "task": "tone",
        "data": {"size": 32, "n": 2400, "seed": 2000, "n_test": 200},
        "build": {"image_size": 32, "budget": "cpu", "width": 16},
        "train": {"steps": 1500, "batch_size": 8, "seed": 0},
        "used_by": "notebooks/06_masks_and_translation.ipynb, section 9",
    },
}

# notebook 08: three long runs of each trained arm of its fairness lesson (the GAN of the light-skin-heavy set, the GAN
# of that set resampled to equal groups), at the notebook's cpu size and width; phantoms from another seed than the
# notebook's, with its default uniform class prior. Several runs per arm, so the notebook's verdict covers the spread
# between training runs.
NOTEBOOK_08 = {"family": "projection", "task": "fairness",
               "data": {"size": 32, "n": 3000, "prior": "uniform", "seed": 1000, "dark_share": 0.05,
                        "target_share": 0.5, "n_samples": 1000},
               "build": {"image_size": 32, "budget": "cpu", "width": 16, "num_classes": 7, "class_head": True},
               "judge": {"epochs": 8, "seed": 7},
               "used_by": "notebooks/08_responsible_synthetic_data.ipynb, section 4b"}
for _arm in ("skewed", "resampled"):
    for _seed, _name in enumerate(responsible.reference_names(_arm)):
        RECIPES[_name] = {**NOTEBOOK_08, "arm": _arm,
                          "train": {"steps": 6000, "batch_size": 32, "seed": _seed, "class_weight": 1.0}}


def fairness_data(data: dict, progress: bool = False):
    """Return notebook 08's reference data: (training split, its skin-tone groups, the skewed set's indices, held-out
    split, its groups)."""
    train_set, heldout, _ = _phantom_splits(data, progress)
    groups = group_of_type(train_set.metadata["skin_tone"])
    skewed = responsible.skewed_indices(groups, data["dark_share"], seed=data["seed"])
    return train_set, groups, skewed, heldout, group_of_type(heldout.metadata["skin_tone"])


def fairness_metrics(generator, arm: str, data: dict, judge, train_set, heldout, heldout_groups,
                     heldout_features=None) -> dict[str, Any]:
    """Return a notebook-08 reference's audit as its card records it (for a skewed run, also its selected samples);
    ``heldout_features`` (``features_of(heldout.images)``) spares recomputing them for every reference."""
    probabilities = torch.bincount(train_set.labels, minlength=len(train_set.class_names)).float()
    draws = {arm: responsible.draw_labelled(generator, data["n_samples"], probabilities, seed=1)}
    if arm == "skewed":
        draws["selected"] = responsible.draw_labelled(generator, data["n_samples"], probabilities,
                                                      data["target_share"], seed=1)
    metrics: dict[str, Any] = {}
    for name, drawn in draws.items():
        audit = responsible.fairness_audit(drawn, judge, heldout.images, heldout_groups, heldout_features)
        metrics.update(responsible.audit_metrics(audit, name))
    return metrics


def _train_fairness(recipe: dict, progress: bool) -> tuple[SimpleNamespace, dict, str]:
    """Train one run of a notebook-08 arm; return (the run, its per-group audit, the data line)."""
    data, train = recipe["data"], recipe["train"]
    train_set, groups, chosen, heldout, heldout_groups = fairness_data(data, progress)
    if recipe["arm"] == "resampled":
        chosen = chosen[responsible.rebalanced_indices(groups[chosen], seed=data["seed"],
                                                       dark_share=data["target_share"])]
    generator = responsible.train_conditional_gan(train_set.images[chosen], train_set.labels[chosen],
                                                  len(train_set.class_names), train["steps"], train["batch_size"],
                                                  recipe["build"]["width"], seed=train["seed"])
    judge = clf.train_classifier(train_set.images, train_set.labels, len(train_set.class_names), progress=False,
                                 **recipe["judge"])
    metrics = fairness_metrics(generator, recipe["arm"], data, judge, train_set, heldout, heldout_groups)
    share = float((groups[chosen] == "dark").mean())
    metrics.update({"judge_epochs": recipe["judge"]["epochs"], "judge_seed": recipe["judge"]["seed"],
                    "judge_threads": torch.get_num_threads(),  # another thread count trains another judge
                    "target_share": data["target_share"], "training_dark_share": share,
                    "n_samples": data["n_samples"]})
    trained = SimpleNamespace(generator=generator, extras={})  # all build_reference reads of a run
    return trained, metrics, (
        f"DermSynth phantom, {data['n']} images at {data['size']} px rendered with the {data['prior']} class prior "
        f"(seed {data['seed']}); trained on its training split made light-skin-heavy (dark share "
        f"{data['dark_share']}, {int((groups[chosen] == 'light').sum())} light images)"
        + (f" and resampled to a dark share of {share:.2f}" if recipe["arm"] == "resampled" else "")
        + f"; audited on its {len(heldout)} held-out images with {data['n_samples']} samples")


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


def hair_scores(generator, hairy, truth) -> dict[str, float]:
    """Return the mean PSNR and SSIM of G(hairy) and of the hairy input against the truth, and the mean paired PSNR
    gain with its standard error."""
    scores = {"generator": restoration_scores(translate_a_to_b(generator, hairy), truth),
              "identity": restoration_scores(hairy, truth)}
    gain, gain_se = paired_gain(scores, "generator", "identity")
    return {"psnr": float(scores["generator"]["psnr"].mean()), "ssim": float(scores["generator"]["ssim"].mean()),
            "psnr_identity": float(scores["identity"]["psnr"].mean()),
            "ssim_identity": float(scores["identity"]["ssim"].mean()), "psnr_gain": gain, "psnr_gain_se": gain_se,
            "n_test": len(hairy)}


def _phantom_splits(data: dict, progress: bool):
    """Return the (training, held-out) splits of a recipe's phantom data and the card's line describing them."""
    options = {"n": data["n"], "prior": data["prior"], "seed": data["seed"], "progress": progress}
    train_set = load_dataset("phantom", size=data["size"], split="train", **options)
    heldout = load_dataset("phantom", size=data["size"], split="test", **options)
    return train_set, heldout, (f"DermSynth phantom, {data['n']} images at {data['size']} px rendered with the "
                                f"{data['prior']} class prior (seed {data['seed']}); trained on its training split "
                                f"({len(train_set)} images)")


def _train_class(recipe: dict, progress: bool) -> tuple[FamilyRun, dict, str]:
    """Train a class-conditional recipe; return (the run, its metrics, the card's data line)."""
    train_set, heldout, line = _phantom_splits(recipe["data"], progress)
    run = _train(recipe, train_set, progress, heldout=heldout.images, heldout_labels=heldout.labels)
    judge = {key: recipe["judge"][key] for key in ("n_per_class", "epochs", "seed")}
    metrics = {"fd": float(run.fd), "fd_untrained": float(run.fd_untrained),
               **judge_accuracy(run.generator, train_set, **judge)}
    return run, metrics, line


def _train_unconditional(recipe: dict, progress: bool, **options) -> tuple[FamilyRun, dict, str]:
    """Train an unconditional recipe; return (the run, its distances before and after and the floor, the data line)."""
    train_set, heldout, line = _phantom_splits(recipe["data"], progress)
    run = _train(recipe, train_set.images, progress, heldout=heldout.images, **options)
    floor = frechet_distance(heldout.images, random_subset(train_set.images, len(heldout), seed=3))  # two real sets
    metrics = {"fd": float(run.fd), "fd_untrained": float(run.fd_untrained), "fd_real_vs_real": float(floor),
               "n_heldout": len(heldout)}
    return run, metrics, f"{line}, distances to its {len(heldout)} held-out images in the kit's default feature space"


def layout_metrics(generators, recipe: dict) -> dict[str, Any]:
    """Return the layout kept from stage to stage by a progressive run's stage generators, as the card records it."""
    measure = recipe["layout"]
    pairs = layout_kept(stage_records(generators, measure["n_z"], seed=measure["seed"]))
    return {"layout_ratio": {f"{p['from']}->{p['to']}": [p["ratio"], p["ratio_low"], p["ratio_high"]] for p in pairs},
            "layout_n_z": measure["n_z"], "layout_seed": measure["seed"]}


def _train_growth(recipe: dict, progress: bool) -> tuple[FamilyRun, dict, str]:
    """Train a progressive recipe keeping the generator at the end of every stage; return (the run, its distances
    and the layout kept from stage to stage, the data line)."""
    snapshots = StageSnapshots()
    run, metrics, line = _train_unconditional(recipe, progress, callbacks=[snapshots])
    run.extras["stages"] = snapshots.states
    metrics.update(layout_metrics(stage_generators(run.generator, snapshots.states), recipe))
    return run, metrics, f"{line}; the generator (EMA copy) kept at the end of every stage"


def _train_hair(recipe: dict, progress: bool) -> tuple[FamilyRun, dict, str]:
    """Train a hair-removal CycleGAN recipe on unpaired phantoms; return (the run, its metrics, the data line)."""
    data = recipe["data"]
    pairs = render_hair_pairs(data["n"], data["size"], seed=data["seed"])
    train_pairs, test_pairs = pairs.split(n_test=data["n_test"])
    run, metrics, untrained = _train_unpaired(recipe, train_pairs, progress,
                                              lambda generator: hair_scores(generator, test_pairs.a, test_pairs.b))
    metrics["psnr_untrained"] = untrained["psnr"]
    return run, metrics, (f"DermSynth phantom, {data['n']} lesions at {data['size']} px rendered with hairs and "
                          f"without (seed {data['seed']}; lesions that drew no hair left out: {len(pairs.a)} kept); "
                          f"trained on {len(train_pairs.a)} of them shuffled independently (unpaired), scored on the "
                          f"last {len(test_pairs.a)} against their true hair-free rendering")


def _train(recipe: dict, data, progress: bool, **options) -> FamilyRun:
    build, train = dict(recipe["build"]), dict(recipe["train"])
    build.pop("image_size")  # train_family takes the size from the data
    budget, width = build.pop("budget"), build.pop("width")
    steps, batch_size, seed = train.pop("steps"), train.pop("batch_size"), train.pop("seed")
    return train_family(recipe["family"], data, steps=steps, batch_size=batch_size, budget=budget, width=width,
                        seed=seed, amp="off", build_options=build, progress=progress, **options, **train)


def _train_unpaired(recipe: dict, train_pairs, progress: bool, score) -> tuple[FamilyRun, dict, dict]:
    """Train a CycleGAN recipe on the pairs shuffled independently (unpaired); return (the run, ``score`` of its
    generator, ``score`` of the same generator at the weights the run started from)."""
    unpaired = unpaired_pairs(train_pairs.a, train_pairs.b, seed=recipe["train"]["seed"])
    run = _train(recipe, unpaired, progress, labels=unpaired)
    torch.manual_seed(recipe["train"]["seed"])  # train_family draws the initial weights after this seed
    untrained, _ = build_family(recipe["family"], **recipe["build"])
    return run, score(run.generator), score(untrained)


def tone_scores(generator, light, masks) -> dict[str, float]:
    """Return the mean Otsu-mask Dice against the true masks of the light inputs and of G(light), and the kept share."""
    before, after = mask_dice(light, masks), mask_dice(translate_a_to_b(generator, light), masks)
    return {"dice_before": float(before.mean()), "dice_after": float(after.mean()),
            "kept": float(after.mean() / max(before.mean(), 1e-9)), "kept_se": mean_se(after - before) / before.mean(),
            "n_test": len(light)}


def _train_tone(recipe: dict, progress: bool) -> tuple[FamilyRun, dict, str]:
    """Train a light -> dark skin CycleGAN recipe on unpaired phantoms; return (the run, its metrics, the data line)."""
    data = recipe["data"]
    train_pairs, test_pairs = render_skin_tone_pairs(data["n"], data["size"], seed=data["seed"]).split(data["n_test"])
    run, metrics, untrained = _train_unpaired(recipe, train_pairs, progress,
                                              lambda generator: tone_scores(generator, test_pairs.a, test_pairs.masks))
    metrics["dice_untrained"] = untrained["dice_after"]
    metrics["dice_true_dark"] = float(mask_dice(test_pairs.b, test_pairs.masks).mean())
    return run, metrics, (f"DermSynth phantom, {data['n']} lesions at {data['size']} px rendered on skin type I and on "
                          f"type VI (seed {data['seed']}); trained on {len(train_pairs.a)} of them shuffled "
                          f"independently (unpaired), scored on the last {len(test_pairs.a)} against their true masks")


# a recipe's "task" -> how it is trained and measured
TASKS = {"class": _train_class, "unconditional": _train_unconditional, "growth": _train_growth, "hair": _train_hair,
         "fairness": _train_fairness,
         "tone": _train_tone}


def build_reference(name: str, folder=None, progress: bool = True) -> dict[str, Any]:
    """Train reference ``name`` from its recipe, write it with its model card (to ``folder``) and return the card."""
    if name not in RECIPES:
        raise ValueError(f"no recipe for a reference named {name!r}; known: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    size, train = recipe["data"]["size"], dict(recipe["train"])
    steps, batch_size, seed = train.pop("steps"), train.pop("batch_size"), train.pop("seed")
    started = time.perf_counter()
    run, metrics, data_line = TASKS[recipe.get("task", "class")](recipe, progress)
    card = {
        "family": recipe["family"], "build": recipe["build"], "data": data_line,
        "settings": {key: value for key, value in family_config(recipe["family"], size, steps=steps,
                                                                batch_size=batch_size, seed=seed, **train).as_dict().items()
                     if key in ("loss", "lr_g", "lr_d", "betas", "n_critic", "ema_decay", "class_weight", "batch_size",
                               "generator_loss", "schedule")},
        "steps": steps, "seed": seed, "metrics": metrics, "used_by": recipe["used_by"],
        "trained": (f"{time.perf_counter() - started:.0f} s on {platform.machine()} CPU "
                    f"({torch.get_num_threads()} threads), torch {torch.__version__}"),
        "reproduce": f"python -m medgan_nb.experiments.references {name}",
    }
    save_reference(name, run.generator, card, folder, stages=run.extras.get("stages"))
    return reference_card(name, folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Train the kit's reference checkpoints and write their model cards")
    parser.add_argument("names", nargs="*", help=f"references to build (default: all of {', '.join(RECIPES)})")
    args = parser.parse_args(argv)
    for name in args.names or list(RECIPES):
        card = build_reference(name)
        shown = ", ".join(f"{key} {value:.3f}" for key, value in card["metrics"].items() if isinstance(value, float))
        print(f"{name}: {card['steps']} steps, {shown}; {card['bytes'] / 1e6:.2f} MB, sha256 {card['sha256'][:12]}…")


if __name__ == "__main__":
    main()
