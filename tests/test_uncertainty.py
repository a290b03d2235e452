"""Verdicts decide with their uncertainty: planted clear and near-chance cases get the verdict their numbers allow."""
from __future__ import annotations

import math

import pytest

from medgan_nb.experiments import evaluation as ev
from medgan_nb.metrics.uncertainty import (NO_CLEAR_DIFFERENCE, above_chance, comparison_sentence, differs,
                                           interval_se, pick_winner, proportion_se)


def test_standard_errors_of_a_proportion_and_of_an_interval():
    assert proportion_se(0.5, 100) == pytest.approx(0.05)
    assert proportion_se(0.0, 10) == 0.0
    assert interval_se(1.0, 1.0 + 2 * 1.959964) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="at least one item"):
        proportion_se(0.5, 0)
    with pytest.raises(ValueError, match="low <= high"):
        interval_se(2.0, 1.0)


def test_differs_needs_more_than_two_standard_errors():
    assert differs(1.0, 1.5, 0.1, 0.1)  # gap 0.5 > 2 * 0.141
    assert not differs(1.0, 1.2, 0.1, 0.1)  # gap 0.2 < 0.283
    assert not differs(1.0, 5.0, math.inf)  # no error known: never decisive
    assert not differs(float("nan"), 1.0, 0.1)


def test_above_chance_uses_the_error_at_chance():
    # 7 classes, 70 images: chance 0.143, two standard errors 0.084
    assert not above_chance(0.20, 1 / 7, 70)
    assert above_chance(0.30, 1 / 7, 70)
    assert not above_chance(0.10, 1 / 7, 70)  # below chance is never "above"


def test_pick_winner_names_a_family_only_when_it_beats_every_other():
    assert pick_winner({"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 0.1, "b": 0.1, "c": 0.1}) == "a"
    assert pick_winner({"a": 1.0, "b": 1.1, "c": 3.0}, {"a": 0.1, "b": 0.1, "c": 0.1}) is None  # a and b tie
    assert pick_winner({"a": 0.6, "b": 0.9}, {"a": 0.05, "b": 0.05}, lower_is_better=False) == "b"


def test_comparison_sentence_says_no_clear_difference_for_a_near_tie():
    tie = comparison_sentence("plain", 0.005, 0.02, "DiffAugment", -0.015, 0.02, "train/held-out gap")
    assert tie.startswith(NO_CLEAR_DIFFERENCE) and "plain" in tie
    clear = comparison_sentence("plain", 0.30, 0.02, "DiffAugment", 0.05, 0.02, "train/held-out gap")
    assert clear.startswith("DiffAugment is clearly lower")
    higher = comparison_sentence("a", 0.9, 0.01, "b", 0.5, 0.01, "accuracy", lower_is_better=False)
    assert higher.startswith("a is clearly higher")


def row(fd, low, high, c2st=0.5, p=0.5, n=64, precision=0.5, coverage=0.5, kid=0.01, kid_std=0.01):
    return {"fd": fd, "fd_low": low, "fd_high": high, "c2st": c2st, "c2st_p": p, "c2st_n": n, "n_images": n,
            "precision": precision, "recall": 0.5, "coverage": coverage, "kid": kid, "kid_std": kid_std}


def test_one_family_best_everywhere_is_not_called_a_change_between_metrics():
    table = {"a": row(1.0, 0.9, 1.1, c2st=0.52, precision=0.9, coverage=0.9, kid=0.01, kid_std=0.001),
             "b": row(5.0, 4.5, 5.5, c2st=0.95, p=1e-9, precision=0.1, coverage=0.1, kid=0.2, kid_std=0.001)}
    best = ev.best_per_metric(table, ["a", "b"])
    assert best == {"fd": "a", "kid": "a", "precision": "a", "coverage": "a", "c2st": "a"}
    verdict = ev.best_family_verdict(best)
    assert "the same family, a, is clearly best on every metric" == verdict
    assert "changes" not in verdict


def test_overlapping_intervals_are_a_tie_and_the_verdict_says_so():
    table = {"a": row(1.0, 0.5, 1.6), "b": row(1.1, 0.6, 1.7)}
    best = ev.best_per_metric(table, ["a", "b"])
    assert set(best.values()) == {None}
    assert NO_CLEAR_DIFFERENCE in ev.best_family_verdict(best)


def test_different_winners_are_reported_as_a_change():
    table = {"a": row(1.0, 0.9, 1.1, precision=0.1, coverage=0.1),
             "b": row(5.0, 4.5, 5.5, precision=0.9, coverage=0.9)}
    verdict = ev.best_family_verdict(ev.best_per_metric(table, ["a", "b"]))
    assert verdict.startswith("the best family changes from metric to metric") and "fd a" in verdict and "precision b" in verdict


def test_checkerboard_verdict_uses_the_p_value_and_the_floor():
    floor = row(1.0, 0.8, 1.2, c2st=0.56, p=0.2)
    # the case that was misread: 0.72 vs floor 0.56 with p = 0.01 on 64 images is a finding
    seen = ev.checkerboard_verdict(row(1.2, 1.0, 1.4, c2st=0.72, p=0.01), floor)
    assert seen.startswith("C2ST separates what the distance places near its floor"), seen
    both = ev.checkerboard_verdict(row(3.0, 2.8, 3.2, c2st=0.9, p=1e-8), floor)
    assert both.startswith("here both metrics see the checkerboard")
    near_chance = ev.checkerboard_verdict(row(1.1, 0.9, 1.3, c2st=0.60, p=0.07), floor)
    assert near_chance.startswith(NO_CLEAR_DIFFERENCE), near_chance


def test_tstr_is_not_read_as_a_share_of_a_trtr_at_chance():
    table = {"cgan": {"tstr": 0.2, "real_plus_synthetic": 0.2, "seg_dice": None}}
    at_chance = ev.utility_verdicts(table, ["cgan"], trtr=0.143, seg_dice_real=0.5, num_classes=7, n_test=64)
    assert "not clearly above chance" in at_chance[0] and "% of TRTR" not in at_chance[0]
    table = {"cgan": {"tstr": 0.5, "real_plus_synthetic": 0.62, "seg_dice": None}}
    tie = ev.utility_verdicts(table, ["cgan"], trtr=0.6, seg_dice_real=0.5, num_classes=7, n_test=64)
    assert "83% of TRTR" in tie[0] and NO_CLEAR_DIFFERENCE in tie[0]
    table = {"cgan": {"tstr": 0.5, "real_plus_synthetic": 0.9, "seg_dice": None}}
    helps = ev.utility_verdicts(table, ["cgan"], trtr=0.6, seg_dice_real=0.5, num_classes=7, n_test=200)
    assert helps[0].endswith("helps")


def test_best_recognised_is_a_tie_at_chance_and_named_when_clear():
    from medgan_nb.experiments import conditional as cond

    tie, line = cond.best_recognised({"cgan": 0.143, "projection": 0.143, "biggan": 0.10}, 7, 8)
    assert tie is None and NO_CLEAR_DIFFERENCE in line
    clear, line = cond.best_recognised({"cgan": 0.80, "projection": 0.30, "biggan": 0.20}, 7, 30)
    assert clear == "cgan" and line.startswith("best recognised: cgan")
    # ahead of the others but not above chance: still no winner
    low, _ = cond.best_recognised({"cgan": 0.16, "projection": 0.0, "biggan": 0.0}, 7, 8)
    assert low is None


def test_skin_tone_verdict_needs_to_beat_the_untrained_generator():
    import numpy as np

    from medgan_nb.experiments import translation as tr

    rng = np.random.default_rng(0)
    before = np.full(30, 0.9)
    noise = rng.normal(0, 0.05, 30)
    # "keeps 56%" with an untrained generator at the same level is no effect
    same = tr.skin_tone_verdict(before, 0.5 + noise, 0.5 + rng.normal(0, 0.05, 30))
    assert same.startswith(NO_CLEAR_DIFFERENCE), same
    kept = tr.skin_tone_verdict(before, 0.85 + noise, 0.5 + noise)
    assert kept.startswith("the lesion is kept"), kept
    suffers = tr.skin_tone_verdict(before, 0.6 + noise, 0.3 + noise)
    assert suffers.startswith("training helps, but the outline suffers"), suffers


def test_the_verdict_rules_catch_planted_contradictions():
    from verdict_rules import verdict_contradictions

    at_chance = {"samples_above_chance": {"cgan": False, "projection": False}}
    assert verdict_contradictions("04_x", at_chance, ["best recognised: cgan (cgan 0.14, projection 0.14; ± 0.1)"])
    assert not verdict_contradictions("04_x", at_chance, [f"best recognised: {NO_CLEAR_DIFFERENCE} (cgan 0.14)"])
    noise = {"copy_fraction": 0.0, "memorization_ratio": 1.8}
    assert verdict_contradictions("02_x", noise, ["verdict: no near-copies: the samples are about as far (ratio 1.80)"])
    checker = {"verdicts": {"checkerboard": "here both metrics see the checkerboard", "best_family": "x",
                            "utility": []},
               "checkerboard": {"c2st": 0.6, "c2st_p": 0.2}, "floor_c2st": 0.5, "best_per_metric": {"fd": "a"},
               "trtr": 0.5}
    assert verdict_contradictions("07_x", checker, [])



def test_the_verdict_rules_catch_planted_contradictions_in_03_05_and_08():
    from verdict_rules import verdict_contradictions

    from medgan_nb.experiments import loss_zoo
    from medgan_nb.metrics.uncertainty import comparison_sentence, lowest_sentence

    zoo = {"losses": {"dcgan": {}, "wgan": {}}, "fd_dcgan": 1.0, "fd_wgan": 1.1, "fd_se_dcgan": 0.1, "fd_se_wgan": 0.1,
           "d_gap_plain": 0.3, "d_gap_diffaugment": 0.0, "d_gap_se_plain": 0.01, "d_gap_se_diffaugment": 0.01,
           "fd_small_plain": 1.0, "fd_small_diffaugment": 1.0, "fd_small_se_plain": 0.1, "fd_small_se_diffaugment": 0.1,
           "spectrum_error_transposed": 0.3, "spectrum_error_resize": 0.1, "spectrum_error_se_transposed": 0.01,
           "spectrum_error_se_resize": 0.01, "fd_transposed": 1.0, "fd_resize": 1.0, "fd_se_upsampling_transposed": 0.1,
           "fd_se_upsampling_resize": 0.1}
    honest = [f"lowest distance: {NO_CLEAR_DIFFERENCE} between dcgan (1.000 ± 0.200) and wgan (1.100 ± 0.200)",
              comparison_sentence("plain", 0.3, 0.01, "DiffAugment", 0.0, 0.01, "D's final gap (lower: less)"),
              comparison_sentence("plain", 1.0, 0.1, "DiffAugment", 1.0, 0.1, "Fréchet distance to held-out images"),
              *loss_zoo.checkerboard_verdict(
                  {"transposed": 1.0, "resize": 1.0}, {"transposed": 0.1, "resize": 0.1},
                  {"transposed": 0.3, "resize": 0.1}, {"transposed": 0.01, "resize": 0.01}).splitlines()]
    assert not verdict_contradictions("03_x", zoo, honest)
    assert verdict_contradictions("03_x", zoo, ["lowest distance: dcgan (1.000 ± 0.200), clearly below", *honest[1:]])
    flipped = [line.replace("DiffAugment is clearly lower", f"{NO_CLEAR_DIFFERENCE}") for line in honest]
    assert verdict_contradictions("03_x", zoo, flipped)

    conditional = {"samples_above_chance": {}, "models": {"cgan": {"fd": 1.0, "fd_se": 0.1},
                                                          "biggan": {"fd": 1.1, "fd_se": 0.1}}}
    tie = lowest_sentence({"cgan": 1.0, "biggan": 1.1}, {"cgan": 0.1, "biggan": 0.1}, "distance after 300 steps")
    assert tie.startswith(f"lowest distance after 300 steps: {NO_CLEAR_DIFFERENCE} between cgan (1.000 ± 0.200)")
    assert not verdict_contradictions("04_x", conditional, ["best recognised: no clear difference", tie])
    assert verdict_contradictions("04_x", conditional, ["best recognised: no clear difference",
                                                        "lowest distance after 300 steps: cgan (1.000 ± 0.200)"])

    style = {"families": {"dcgan": {"fd": 1.0}, "stylegan": {"fd": 2.0}}, "fd_se": {"dcgan": 0.1, "stylegan": 0.1},
             "walk_smoothness": {"z": {"max_over_mean": 1.5}, "w": {"max_over_mean": 1.5}, "difference_se": 0.1},
             "progressive_layout_kept": [{"from": 4, "to": 8, "ratio_high": 0.3}]}
    lines = ["verdict: closest to the held-out real images: dcgan, clearly (dcgan 1.000 ± 0.200, ...)",
             f"verdict: largest frame jump / mean jump: z walk 1.50, w walk 1.50: {NO_CLEAR_DIFFERENCE}",
             "verdict: same-z change / other-z difference ... Layout kept (< 0.5): 4->8 px; partly kept: none"]
    assert not verdict_contradictions("05_x", style, lines)
    assert verdict_contradictions("05_x", style, [lines[0].replace("dcgan, clearly", NO_CLEAR_DIFFERENCE), *lines[1:]])
    assert verdict_contradictions("05_x", style, [*lines[:2], lines[2].replace("4->8 px;", "none;")])

    private = {"skewed_recognised_dark": 0.9, "selected_recognised_dark": 0.5, "skewed_recognised_se_dark": 0.05,
               "selected_recognised_se_dark": 0.05, "epsilon_curve": [
                   {"epsilon": None, "attack_auc": 0.75, "n_members": 100, "n_nonmembers": 100},
                   {"epsilon": 0.5, "attack_auc": 0.74, "n_members": 100, "n_nonmembers": 100}],
               "tabular_utility_synthetic": 0.62, "tabular_majority_class_accuracy": 0.6, "tabular_n_heldout": 100}
    lines = ["verdict (1 training run per arm; chance 0.14; dark share asked 0.50):",
             "  skewed GAN, samples selected by tone: dark share 0.05 -> 0.50 (reached the target); dark skin "
             "recognised 0.90 ± 0.10 -> 0.50 ± 0.10 (clearly lower); dark coverage distance 0.1 -> 0.1",
             f"verdict: at epsilon 0.50 the attack's AUC is 0.740 ± 0.07 (no DP: 0.750): {NO_CLEAR_DIFFERENCE}: DP ...",
             "verdict: fidelity 0.80 (sdmetrics); a classifier trained on synthetic records does not clearly beat it"]
    assert not verdict_contradictions("08_x", private, lines)
    assert verdict_contradictions("08_x", private, [lines[0], lines[1].replace("clearly lower", "clearly higher"),
                                                    *lines[2:]])
    assert verdict_contradictions("08_x", private, [*lines[:2], lines[2].replace(NO_CLEAR_DIFFERENCE, "DP clearly lowers"),
                                                    lines[3]])
    assert verdict_contradictions("08_x", private, [*lines[:3], lines[3].replace("does not clearly beat", "clearly beats")])

def test_restoration_verdict_names_a_method_only_when_it_beats_every_other_per_image():
    import numpy as np

    from medgan_nb.experiments import translation as tr

    rng = np.random.default_rng(1)
    base = rng.normal(25, 3, 40)
    clear = {"identity": {"psnr": base}, "DullRazor": {"psnr": base + 5 + rng.normal(0, 0.5, 40)}}
    assert tr.restoration_verdict(clear).startswith("best PSNR: DullRazor")
    tie = {"identity": {"psnr": base}, "DullRazor": {"psnr": base + rng.normal(0.05, 1.0, 40)}}
    assert NO_CLEAR_DIFFERENCE in tr.restoration_verdict(tie)
