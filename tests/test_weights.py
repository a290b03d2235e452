"""Reference checkpoints: shipped with their cards, checked by sha256, read with weights_only, clear errors otherwise."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import computed_once

from medgan_nb.models import get_family
from medgan_nb.weights import (
    FOLDER,
    ReferenceError,
    file_sha256,
    load_reference,
    load_reference_stages,
    reference_card,
    reference_cards,
    save_reference,
)

SHIPPED = sorted(reference_cards())
CARD_FIELDS = {"family", "build", "data", "settings", "steps", "seed", "metrics", "reproduce", "trained", "used_by",
               "file", "sha256", "bytes"}


def test_the_kit_ships_references_within_25_mb_each_with_a_full_card():
    assert "projection_ac" in SHIPPED, "notebook 04 needs the projection_ac reference: build it (see its card)"
    total = sum((FOLDER / reference_card(name)["file"]).stat().st_size for name in SHIPPED)
    assert total <= 25e6, f"the references take {total / 1e6:.1f} MB, more than the 25 MB budget"
    for name in SHIPPED:
        card = reference_card(name)
        assert CARD_FIELDS <= set(card), f"{name}'s card lacks {sorted(CARD_FIELDS - set(card))}"
        assert "phantom" in card["data"].lower(), f"{name} must be trained on the phantom only"
        assert card["reproduce"] == f"python -m medgan_nb.experiments.references {name}"
        assert file_sha256(FOLDER / card["file"]) == card["sha256"]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_reference_loads_as_its_family_and_samples_images(name):
    generator, card = load_reference(name)
    assert not generator.training
    size = card["build"]["image_size"]
    z = torch.randn(3, generator.latent_dim)
    conditioning = get_family(card["family"]).conditioning
    condition = {"class": lambda: (torch.arange(3) % card["build"]["num_classes"],),
                 "unpaired": lambda: (torch.rand(3, 6, size, size) * 2 - 1,), "none": lambda: ()}[conditioning]()
    with torch.no_grad():
        images = generator(z, *condition)
    channels = 6 if conditioning == "unpaired" else 3  # a CycleGAN returns the stack [F(b), G(a)]
    assert images.shape == (3, channels, size, size) and images.abs().max() <= 1 and images.std() > 0.05


def _copy_references(tmp_path):
    for path in FOLDER.iterdir():
        if path.suffix in (".pt", ".json"):
            shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_an_altered_missing_or_unknown_reference_is_a_clear_error(tmp_path):
    folder = _copy_references(tmp_path)
    path = folder / reference_card("projection_ac", folder)["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped in the middle of the weights
    path.write_bytes(bytes(data))
    with pytest.raises(ReferenceError, match=r"has sha256 .* its model card expects .*altered or damaged; reinstall"):
        load_reference("projection_ac", folder)
    path.unlink()
    with pytest.raises(ReferenceError, match=r"is missing: no file .*python -m medgan_nb.experiments.references "
                                             r"projection_ac"):
        load_reference("projection_ac", folder)
    with pytest.raises(ReferenceError, match=r"no reference checkpoint named 'stylegan_xl'; the kit ships: "):
        load_reference("stylegan_xl")


def test_weights_of_another_model_or_a_pickled_object_are_refused(tmp_path):
    from medgan_nb.models import build_family

    dcgan, _ = build_family("dcgan", image_size=32, budget="smoke")
    card = {**reference_card("projection_ac")}
    save_reference("projection_ac", dcgan, card, tmp_path)  # a card for a projection G, a DCGAN's weights
    with pytest.raises(ReferenceError, match=r"does not fit a projection generator built with"):
        load_reference("projection_ac", tmp_path)
    path = tmp_path / "projection_ac.pt"
    torch.save({"format": "medgan-nb-reference-1", "name": "projection_ac", "generator": {}, "code": np.float64},
               path)  # an object weights_only refuses to unpickle
    cards = json.loads((tmp_path / "cards.json").read_text())
    cards["projection_ac"]["sha256"] = file_sha256(path)
    (tmp_path / "cards.json").write_text(json.dumps(cards))
    with pytest.raises(ReferenceError, match=r"is not a readable reference checkpoint \(UnpicklingError"):
        load_reference("projection_ac", tmp_path)


def test_save_reference_round_trips_in_half_precision_and_leaves_no_temporary(tmp_path):
    from medgan_nb.models import build_family

    torch.manual_seed(0)
    generator, _ = build_family("projection", image_size=32, budget="smoke", num_classes=7)
    card = {"family": "projection", "build": {"image_size": 32, "budget": "smoke", "num_classes": 7}}
    save_reference("tiny", generator, card, tmp_path)
    loaded, saved_card = load_reference("tiny", tmp_path)
    assert saved_card["sha256"] == file_sha256(tmp_path / "tiny.pt") and saved_card["bytes"] > 0
    for key, value in generator.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(loaded.state_dict()[key], value.half().float())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.json", "tiny.pt"]


@pytest.mark.slow
def test_the_projection_ac_reference_draws_classes_an_independent_judge_recognises():
    """Its model card's claim, re-measured: a classifier trained on real phantoms recognises its classes far above
    chance (the mean over classes more than four standard errors above 1/K, most classes above chance), while the
    same family untrained is recognised at about chance."""
    from medgan_nb.data import load_dataset
    from medgan_nb.experiments.references import RECIPES, judge_accuracy
    from medgan_nb.models import build_family

    recipe = RECIPES["projection_ac"]
    data = recipe["data"]
    train_set = load_dataset("phantom", size=data["size"], split="train", n=data["n"], prior=data["prior"],
                             seed=data["seed"], progress=False)
    generator, _ = load_reference("projection_ac")
    n, k = 40, len(train_set.class_names)
    se = math.sqrt((1 / k) * (1 - 1 / k) / (k * n))
    per_class = []
    for judge_seed in (11, 12, 13):  # judges other than the card's
        trained = judge_accuracy(generator, train_set, n_per_class=n, epochs=8, seed=judge_seed)
        assert trained["judge_accuracy_mean"] > 1 / k + 4 * se, trained
        per_class.append(list(trained["judge_accuracy_per_class"].values()))
    per_class = np.mean(per_class, axis=0)  # over the three judges: most classes recognised above chance
    assert (per_class > 1 / k + 2 * math.sqrt((1 / k) * (1 - 1 / k) / (3 * n))).sum() >= 4, per_class
    torch.manual_seed(0)
    untrained, _ = build_family("projection", **recipe["build"])
    baseline = judge_accuracy(untrained.eval(), train_set, n_per_class=n, epochs=8, seed=11)
    assert baseline["judge_accuracy_mean"] < 1 / k + 4 * se, baseline


def test_build_reference_trains_its_recipe_and_writes_a_loadable_checkpoint_with_its_card(tmp_path, monkeypatch):
    """The card's reproduce command runs build_reference: here on a tiny copy of the projection_ac recipe."""
    from medgan_nb.experiments import references

    tiny = {**references.RECIPES["projection_ac"], "data": {"size": 32, "n": 120, "prior": "uniform", "seed": 3},
            "train": {"steps": 3, "batch_size": 8, "seed": 0, "class_weight": 1.0},
            "judge": {"epochs": 1, "seed": 7, "n_per_class": 2}}
    monkeypatch.setitem(references.RECIPES, "tiny_ac", tiny)
    card = references.build_reference("tiny_ac", folder=tmp_path, progress=False)
    assert CARD_FIELDS <= set(card) and card["steps"] == 3 and card["settings"]["class_weight"] == 1.0
    assert card["reproduce"] == "python -m medgan_nb.experiments.references tiny_ac"
    assert 0 <= card["metrics"]["judge_accuracy_mean"] <= 1 and card["metrics"]["fd"] > 0
    generator, loaded = load_reference("tiny_ac", tmp_path)
    assert loaded["sha256"] == file_sha256(tmp_path / "tiny_ac.pt") and generator.latent_dim > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.json", "tiny_ac.pt"]  # no temporary left behind
    with pytest.raises(ValueError, match=r"no recipe for a reference named 'nope'; known: .*projection_ac"):
        references.build_reference("nope", folder=tmp_path)


def _hair_gain(generator, pairs):
    from medgan_nb.experiments.references import hair_scores

    return hair_scores(generator, pairs.a, pairs.b)


def test_the_cyclegan_hair_reference_removes_hairs_from_lesions_it_never_saw():
    """Notebook 06's central effect on the shipped checkpoint: on 150-odd new phantom lesions the reference beats doing
    nothing by more than four standard errors of the paired PSNR gain and by at least 2 dB, and its attention lies on
    the true hairs; the same family untrained is far worse than doing nothing."""
    from medgan_nb.experiments import translation as tr
    from medgan_nb.models import build_family

    generator, card = load_reference("cyclegan_hair")
    pairs = tr.render_hair_pairs(200, card["build"]["image_size"], seed=4242)  # not the recipe's seed 1000
    trained = _hair_gain(generator, pairs)
    assert trained["psnr_gain"] > max(2.0, 4 * trained["psnr_gain_se"]), trained
    assert trained["ssim"] > trained["ssim_identity"], trained
    share = tr.attention_on_hair(tr.attention_maps(generator, pairs.a), tr.hair_pixels(pairs.a, pairs.b))
    assert share["on_hair"] > share["elsewhere"] + 0.3, share
    torch.manual_seed(0)
    untrained, _ = build_family(card["family"], **card["build"])
    baseline = _hair_gain(untrained.eval(), pairs)
    assert baseline["psnr_gain"] < -2 * baseline["psnr_gain_se"], baseline


def test_the_cyclegan_hair_card_metrics_are_what_its_recipe_measures():
    """The card's numbers recomputed on the recipe's own held-out lesions (half-precision weights: to 0.1 dB)."""
    from medgan_nb.experiments import translation as tr
    from medgan_nb.experiments.references import RECIPES

    data = RECIPES["cyclegan_hair"]["data"]
    generator, card = load_reference("cyclegan_hair")
    _, test_pairs = tr.render_hair_pairs(data["n"], data["size"], seed=data["seed"]).split(n_test=data["n_test"])
    measured = _hair_gain(generator, test_pairs)
    assert measured["n_test"] == card["metrics"]["n_test"]
    for key in ("psnr", "psnr_identity", "psnr_gain"):
        assert measured[key] == pytest.approx(card["metrics"][key], abs=0.1), key
    assert measured["ssim"] == pytest.approx(card["metrics"]["ssim"], abs=0.01)


def test_the_cyclegan_skin_tone_reference_keeps_the_lesion_on_lesions_it_never_saw():
    """Notebook 06's skin-tone effect on the shipped checkpoint: on new phantom lesions the translated lesion keeps at
    least 85% of the light input's Dice (with two standard errors to spare) while the untrained generator keeps far
    less; and the translation really darkens the skin."""
    from medgan_nb.experiments import translation as tr
    from medgan_nb.experiments.references import tone_scores
    from medgan_nb.models import build_family
    from medgan_nb.models.translation import translate_a_to_b

    generator, card = load_reference("cyclegan_skin_tone")
    pairs = tr.render_skin_tone_pairs(200, card["build"]["image_size"], seed=4343)  # not the recipe's seed 2000
    trained = tone_scores(generator, pairs.a, pairs.masks)
    assert trained["kept"] - 2 * trained["kept_se"] > 0.85, trained
    skin = ~pairs.masks[:, None].expand(-1, 3, -1, -1)
    dark = translate_a_to_b(generator, pairs.a)
    assert dark[skin].mean() < pairs.a[skin].mean() - 0.3  # the skin is darker after the translation
    torch.manual_seed(0)
    untrained, _ = build_family(card["family"], **card["build"])
    assert tone_scores(untrained.eval(), pairs.a, pairs.masks)["kept"] < 0.7


def test_the_cyclegan_skin_tone_card_metrics_are_what_its_recipe_measures():
    from medgan_nb.experiments import translation as tr
    from medgan_nb.experiments.references import RECIPES, tone_scores

    data = RECIPES["cyclegan_skin_tone"]["data"]
    generator, card = load_reference("cyclegan_skin_tone")
    _, test_pairs = tr.render_skin_tone_pairs(data["n"], data["size"], seed=data["seed"]).split(data["n_test"])
    measured = tone_scores(generator, test_pairs.a, test_pairs.masks)
    assert measured["n_test"] == card["metrics"]["n_test"]
    for key in ("dice_before", "dice_after", "kept"):
        assert measured[key] == pytest.approx(card["metrics"][key], abs=0.01), key


UNCONDITIONAL = [name for name in SHIPPED if reference_card(name)["family"] in ("dcgan", "stylegan", "progressive")]


@pytest.mark.parametrize("name", UNCONDITIONAL)
def test_an_unconditional_reference_is_far_closer_to_new_phantoms_than_the_same_network_untrained(name):
    """The long run on the shipped checkpoint (notebooks 02 and 05): on 400 phantoms it never saw, its Fréchet distance
    is below a third of the untrained network's."""
    from medgan_nb.data import load_dataset
    from medgan_nb.metrics.fid import frechet_distance, sample_generator
    from medgan_nb.models import build_family

    generator, card = load_reference(name)
    size = card["build"]["image_size"]
    real = load_dataset("phantom", size=size, n=400, prior="ham10000", seed=4444, progress=False).images
    trained = frechet_distance(real, sample_generator(generator, len(real), seed=5))
    torch.manual_seed(0)
    untrained, _ = build_family(card["family"], **card["build"])
    if hasattr(untrained, "set_stage"):
        untrained.set_stage(size, 1.0)
    baseline = frechet_distance(real, sample_generator(untrained.eval(), len(real), seed=5))
    assert trained < baseline / 3, (trained, baseline)


@pytest.mark.parametrize("name", UNCONDITIONAL)
def test_an_unconditional_card_distance_is_what_its_recipe_measures(name):
    """The card's Fréchet distance recomputed on the recipe's held-out phantoms with the recipe's samples (seed + 1)."""
    from medgan_nb.data import load_dataset
    from medgan_nb.experiments.references import RECIPES
    from medgan_nb.metrics.fid import frechet_distance, sample_generator

    data = RECIPES[name]["data"]
    generator, card = load_reference(name)
    heldout = load_dataset("phantom", size=data["size"], split="test", n=data["n"], prior=data["prior"],
                           seed=data["seed"], progress=False).images
    assert len(heldout) == card["metrics"]["n_heldout"]
    measured = frechet_distance(heldout, sample_generator(generator, len(heldout), seed=card["seed"] + 1))
    assert measured == pytest.approx(card["metrics"]["fd"], rel=0.05)


@pytest.mark.parametrize("name, data, keys", [
    ("cyclegan_hair", {"size": 32, "n": 60, "seed": 3, "n_test": 12}, {"psnr", "psnr_identity", "psnr_untrained"}),
    ("cyclegan_skin_tone", {"size": 32, "n": 40, "seed": 3, "n_test": 12}, {"dice_before", "dice_after", "kept"}),
    ("dcgan_64", {"size": 32, "n": 120, "prior": "uniform", "seed": 3}, {"fd", "fd_untrained", "fd_real_vs_real"}),
    ("progressive_32", {"size": 32, "n": 120, "prior": "uniform", "seed": 3}, {"fd", "fd_untrained"}),
])
def test_every_task_builds_a_tiny_copy_of_its_recipe_into_a_loadable_checkpoint(tmp_path, monkeypatch, name, data,
                                                                               keys):
    """The hair, skin-tone and unconditional recipes run end to end (3 steps, tiny data) and load with their cards."""
    from medgan_nb.experiments import references

    recipe = references.RECIPES[name]
    tiny = {**recipe, "data": data, "build": {**recipe["build"], "image_size": 32, "width": 4},
            "train": {**recipe["train"], "steps": 8, "batch_size": 4}, "layout": {"n_z": 6, "seed": 0}}
    monkeypatch.setitem(references.RECIPES, f"tiny_{name}", tiny)
    card = references.build_reference(f"tiny_{name}", folder=tmp_path, progress=False)
    assert CARD_FIELDS <= set(card) and card["steps"] == 8 and keys <= set(card["metrics"])
    assert all(math.isfinite(card["metrics"][key]) for key in keys)
    generator, _ = load_reference(f"tiny_{name}", tmp_path)
    assert not generator.training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cards.json", f"tiny_{name}.pt"]
    if recipe["task"] == "growth":  # the progressive recipe keeps every stage and measures its layout
        stages, _ = load_reference_stages(f"tiny_{name}", tmp_path)
        assert card["stages"] == [g.resolution for g in stages] == [4, 8, 16, 32]
        assert set(card["metrics"]["layout_ratio"]) == {"4->8", "8->16", "16->32"}  # the card file sorts its keys


def test_the_progressive_reference_keeps_its_generator_at_the_end_of_every_stage():
    """progressive_32 ships four stage snapshots (4 to 32 px), each drawing at its own resolution."""
    generators, card = load_reference_stages("progressive_32")
    assert card["stages"] == [4, 8, 16, 32] and [g.resolution for g in generators] == [4, 8, 16, 32]
    z = torch.randn(4, generators[0].latent_dim, generator=torch.Generator().manual_seed(0))
    for generator in generators:
        assert not generator.training and generator.alpha == 1.0
        with torch.no_grad():
            images = generator(z)
        blocks = 32 // generator.resolution  # a stage below full size draws blocks of equal pixels
        pooled = torch.nn.functional.avg_pool2d(images, blocks)
        assert torch.allclose(torch.nn.functional.interpolate(pooled, scale_factor=blocks), images, atol=1e-5)
    with pytest.raises(ReferenceError, match="keeps no stage snapshots"):
        load_reference_stages("stylegan_32")


def test_the_progressive_reference_keeps_the_layout_from_stage_to_stage():
    """Notebook 05's central effect on the shipped long run: at every change of resolution the same z keeps its 4x4
    layout (the ratio's whole 95% interval over 200 z below 0.5; an unrelated layout gives about 1), and the card's
    ratios are what its stages give (recomputed with the recipe's z)."""
    from medgan_nb.experiments import style_growth
    from medgan_nb.experiments.references import RECIPES, layout_metrics

    generators, card = load_reference_stages("progressive_32")
    measured = layout_metrics(generators, RECIPES["progressive_32"])["layout_ratio"]
    assert list(measured) == ["4->8", "8->16", "16->32"]
    for change, (ratio, low, high) in measured.items():
        assert high < 0.5, (change, ratio, low, high)
        assert ratio == pytest.approx(card["metrics"]["layout_ratio"][change][0], abs=0.02), change
    shuffled = style_growth.stage_records(generators, n_images=200, seed=5)
    shuffled[1]["images"] = shuffled[1]["images"][torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    assert style_growth.layout_kept(shuffled[:2])[0]["ratio_low"] > 0.8  # the measure sees a layout that moved


# ----------------------------------------------------------------------------- notebook 08's fairness runs
FAIRNESS = {arm: [f"fairness_{arm}_{seed}" for seed in range(3)] for arm in ("skewed", "resampled")}


@pytest.fixture(scope="module")
def fairness_remeasured(tmp_path_factory, request):
    """Every fairness reference audited again exactly as its card was made: its recipe's data and judge, its draws."""
    return computed_once(tmp_path_factory, request, "fairness_remeasured", _remeasure_fairness)


def _remeasure_fairness() -> dict:
    from medgan_nb.experiments import references
    from medgan_nb.metrics.classifier import train_classifier
    from medgan_nb.metrics.fid import features_of

    recipe = references.RECIPES[FAIRNESS["skewed"][0]]
    train_set, _, _, heldout, heldout_groups = references.fairness_data(recipe["data"])
    threads = torch.get_num_threads()
    # as the cards were measured: another thread count sums in another order, and eight epochs make that another
    # judge, whose recognised shares differ by up to 0.1 (judge seeds 7-9 on one run: 0.51-0.77)
    torch.set_num_threads(reference_card(FAIRNESS["skewed"][0])["metrics"]["judge_threads"])
    try:
        judge = train_classifier(train_set.images, train_set.labels, len(train_set.class_names), progress=False,
                                 **recipe["judge"])
    finally:
        torch.set_num_threads(threads)
    features = features_of(heldout.images)  # once for the six references
    measured = {}
    for arm, names in FAIRNESS.items():
        for name in names:
            generator, card = load_reference(name)
            measured[name] = (card["metrics"], references.fairness_metrics(generator, arm, recipe["data"], judge,
                                                                           train_set, heldout, heldout_groups,
                                                                           features))
    return measured


@pytest.mark.slow
@pytest.mark.parametrize("name", FAIRNESS["skewed"] + FAIRNESS["resampled"])
def test_a_fairness_card_holds_what_its_recipe_measures(fairness_remeasured, name):
    card, measured = fairness_remeasured[name]
    assert card["target_share"] == 0.5 and card["n_samples"] == 1000
    for key, value in measured.items():
        tolerance = 0.02 if "share" in key else 0.04 if "recognised" in key else 0.1 * abs(card[key]) + 1e-3
        assert value == pytest.approx(card[key], abs=tolerance), (name, key, card[key], value)


@pytest.mark.slow
def test_selecting_samples_by_tone_reaches_the_target_share_without_lowering_the_dark_groups_recognition(
        fairness_remeasured):
    """The central effect of notebook 08's section 4b: over three long runs, selecting the skewed GAN's samples by
    estimated tone brings the dark share from a few percent to the asked 0.5, and the dark samples stay recognised
    as their diagnosis far above chance (1/7) and no lower than before selection (by two standard errors across
    runs); a selection that ignored the labels would fall to chance."""
    from medgan_nb.metrics.uncertainty import mean_se

    runs = [fairness_remeasured[name][1] for name in FAIRNESS["skewed"]]
    before = np.array([r["skewed_recognised_dark"] for r in runs])
    after = np.array([r["selected_recognised_dark"] for r in runs])
    assert all(r["skewed_generated_share_dark"] < 0.15 for r in runs), runs
    assert all(r["selected_generated_share_dark"] == pytest.approx(0.5, abs=0.01) for r in runs), runs
    spread = math.hypot(mean_se(before), mean_se(after))
    assert after.mean() > 1 / 7 + 0.25 and after.min() > 1 / 7 + 0.15, after
    assert after.mean() >= before.mean() - 2 * spread, (before, after, spread)
    light = np.array([[r["skewed_recognised_light"], r["selected_recognised_light"]] for r in runs])
    assert abs(light[:, 1].mean() - light[:, 0].mean()) < 0.08, light  # the light group keeps its samples too


@pytest.mark.slow
def test_resampling_the_training_set_covers_dark_skin_better_but_its_dark_samples_lose_their_diagnosis(
        fairness_remeasured):
    """The other remedy and its cost, over three long runs per arm (errors across runs): the GAN of the resampled set
    draws dark skin about half the time and covers the real dark-skin images clearly better than the skewed GAN and
    than selection (which keeps only what the skewed GAN already draws), but its dark samples are recognised as their
    diagnosis clearly less often than the skewed GAN's: it learnt the few dark images seen again and again rather
    than the diagnoses (0.90 -> 0.57 when the cards were made)."""
    from medgan_nb.metrics.uncertainty import differs, mean_se

    skewed = [fairness_remeasured[name][1] for name in FAIRNESS["skewed"]]
    resampled = [fairness_remeasured[name][1] for name in FAIRNESS["resampled"]]
    assert min(r["resampled_generated_share_dark"] for r in resampled) > max(
        s["skewed_generated_share_dark"] for s in skewed) + 0.25
    covered = np.array([r["resampled_coverage_distance_dark"] for r in resampled])
    for arm in ("skewed", "selected"):
        other = np.array([s[f"{arm}_coverage_distance_dark"] for s in skewed])
        assert covered.mean() < 0.8 * other.mean(), (arm, covered, other)
        assert differs(covered.mean(), other.mean(), mean_se(covered), mean_se(other)), (arm, covered, other)
    a = np.array([s["skewed_recognised_dark"] for s in skewed])
    b = np.array([r["resampled_recognised_dark"] for r in resampled])
    assert b.mean() < a.mean() - 0.1 and differs(a.mean(), b.mean(), mean_se(a), mean_se(b)), (a, b)
