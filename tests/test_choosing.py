"""Notebook 09's search and comparison (medgan_nb.experiments.choosing): deterministic draws, failures reported, verdicts
that decide with their uncertainty."""
from __future__ import annotations

import math

import pytest
import torch

from medgan_nb.experiments import choosing
from medgan_nb.metrics.uncertainty import NO_CLEAR_DIFFERENCE
from medgan_nb.models import family_settings


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------- the search space
def test_draws_are_deterministic_for_a_seed_and_start_with_the_registry_default():
    space = {name: choosing.SEARCH_SPACE[name] for name in ("dcgan", "wgan-gp")}
    first = choosing.draw_configurations(space, 4, seed=3)
    assert first == choosing.draw_configurations(space, 4, seed=3)
    assert first != choosing.draw_configurations(space, 4, seed=4)
    assert [c["family"] for c in first] == ["dcgan"] * 4 + ["wgan-gp"] * 4
    default = next(c for c in first if c["family"] == "wgan-gp" and c["label"] == "default")
    settings = family_settings("wgan-gp")
    assert default["settings"]["n_critic"] == settings["n_critic"] and default["settings"]["gp_weight"] == settings["gp_weight"]
    assert default["settings"]["lr_g"] == settings["lr_g"] and tuple(default["settings"]["betas"]) == tuple(settings["betas"])
    # a family's draws do not depend on which other families are searched
    alone = choosing.draw_configurations({"wgan-gp": choosing.SEARCH_SPACE["wgan-gp"]}, 4, seed=3)
    assert alone == [c for c in first if c["family"] == "wgan-gp"]


def test_draws_stay_inside_their_ranges():
    configurations = choosing.draw_configurations(choosing.SEARCH_SPACE, 30, seed=0)
    for configuration in configurations:
        if configuration["label"] == "default":
            continue
        space = choosing.SEARCH_SPACE[configuration["family"]]
        for key, value in configuration["settings"].items():
            draw = space[key]
            if isinstance(draw, choosing.LogUniform):
                assert draw.low * 0.999 <= value <= draw.high * 1.001, (key, value)
            else:
                assert value in draw.options, (key, value)
    learning_rates = [c["settings"]["lr_d"] for c in configurations if c["label"] == "random"]
    assert max(learning_rates) / min(learning_rates) > 10, "log-uniform draws span more than a decade"


@pytest.mark.parametrize("space, message", [
    ({}, "search space is empty"),
    ({"not-a-gan": {"lr_g": choosing.LogUniform(1e-4, 1e-3)}}, "unknown GAN family"),
    ({"dcgan": {}}, "no settings to vary"),
    ({"dcgan": {"momentum": choosing.Choice((0.9,))}}, "unknown setting"),
    ({"dcgan": {"lr_g": (1e-4, 1e-3)}}, "LogUniform"),
])
def test_bad_search_spaces_are_named(space, message):
    with pytest.raises(ValueError, match=message):
        choosing.draw_configurations(space, 2)


def test_a_family_without_a_search_space_is_named_with_the_fix():
    assert list(choosing.search_space(["wgan-gp", "dcgan"])) == ["wgan-gp", "dcgan"]
    with pytest.raises(ValueError, match=r"'cgan' has no search space .* SEARCH_SPACE\['cgan'\]"):
        choosing.search_space(["dcgan", "cgan"])
    with pytest.raises(ValueError, match="unknown GAN family"):
        choosing.search_space(["dcgan", "vae"])
    with pytest.raises(ValueError, match="no families"):
        choosing.search_space([])


def test_zero_configurations_and_zero_epochs_are_refused():
    with pytest.raises(ValueError, match="n_per_family must be >= 1"):
        choosing.draw_configurations(choosing.SEARCH_SPACE, 0)
    with pytest.raises(ValueError, match="epochs must be > 0"):
        choosing.run_search([], torch.zeros(4, 3, 32, 32), torch.zeros(4, 8), torch.zeros(4, 3, 32, 32), None, epochs=0)


def test_one_budget_gives_fewer_generator_steps_to_larger_batches_and_more_critic_steps():
    assert choosing.steps_for(4, 1000, 32, 1) == 125
    assert choosing.steps_for(4, 1000, 64, 1) == 63
    assert choosing.steps_for(4, 1000, 32, 5) == 25
    assert choosing.steps_for(0.001, 10, 64, 5) == 1


# ---------------------------------------------------------------------------------------------- running it
@pytest.fixture(scope="module")
def tiny_data():
    from medgan_nb.data import load_dataset
    from medgan_nb.metrics.features import default_extractor
    from medgan_nb.metrics.fid import features_of

    train = load_dataset("phantom", size=32, split="train", n=260, seed=5).images
    heldout = load_dataset("phantom", size=32, split="test", n=260, seed=5).images[:40]
    extractor = default_extractor()
    return train, heldout, features_of(heldout, extractor), extractor


def _search(configurations, tiny_data, seed=0):
    train, heldout, features, extractor = tiny_data
    return choosing.run_search(configurations, train, features, heldout, extractor, epochs=0.25, budget="smoke",
                               seed=seed, n_boot=5, progress=False)


def test_a_planted_divergence_is_reported_as_failed_with_its_settings(tiny_data):
    normal = {"family": "dcgan", "index": 0, "label": "default",
              "settings": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 16}}
    diverging = {"family": "dcgan", "index": 1, "label": "random",
                 "settings": {"lr_g": 1e30, "lr_d": 1e30, "betas": (0.5, 0.999), "batch_size": 16}}
    rows, generators = _search([normal, diverging], tiny_data)
    assert [row["settings"] for row in rows] == [normal["settings"], diverging["settings"]]
    assert rows[1]["status"] == "diverged" and "NaN" in rows[1]["why"] and math.isnan(rows[1]["fd"])
    assert rows[0]["status"] in ("ok", "collapsed") and math.isfinite(rows[0]["fd"]) and rows[0]["steps"] >= 1
    # the diverged run never becomes the family's generator to compare
    assert "dcgan" in generators
    summary = choosing.family_summary(rows)["dcgan"]
    assert summary["failed"] >= 1 and summary["failures"]["diverged"] == 1
    assert choosing.robustness_verdicts(choosing.family_summary(rows))["dcgan"].startswith(("sensitive", "every"))


def test_the_planted_failure_of_the_notebook_is_caught(tiny_data):
    rows, _ = _search([choosing.planted_failure("wgan-gp", batch_size=16)], tiny_data)
    assert rows[0]["status"] == "diverged" and "NaN" in rows[0]["why"], rows[0]


def test_the_search_is_deterministic_for_a_seed(tiny_data):
    configurations = choosing.draw_configurations({"lsgan": choosing.SEARCH_SPACE["lsgan"]}, 2, seed=1)
    first, _ = _search(configurations, tiny_data)
    again, _ = _search(configurations, tiny_data)
    assert [(r["status"], r["fd"], r["steps"]) for r in first] == [(r["status"], r["fd"], r["steps"]) for r in again]


def test_a_collapsed_generator_is_detected():
    same = torch.rand(1, 3, 8, 8).repeat(20, 1, 1, 1)
    varied = torch.rand(20, 3, 8, 8)
    assert choosing.pixel_spread(same) == 0
    assert choosing.pixel_spread(same + 0.01 * torch.randn_like(same)) / choosing.pixel_spread(varied) < choosing.COLLAPSE_RATIO


# ---------------------------------------------------------------------------------------------- reading it
def _row(family, index, fd, half_width, status="ok", label="random"):
    return {"family": family, "index": index, "label": label, "settings": {"lr_g": 1e-4}, "status": status,
            "fd": fd if status == "ok" else math.nan, "fd_low": fd - half_width if status == "ok" else math.nan,
            "fd_high": fd + half_width if status == "ok" else math.nan}


def test_robust_only_without_failures_and_within_the_intervals():
    rows = [_row("a", 0, 10.0, 2.0, label="default"), _row("a", 1, 11.0, 2.0),      # overlapping: robust
            _row("b", 0, 10.0, 0.5, label="default"), _row("b", 1, 30.0, 0.5),      # apart: sensitive
            _row("c", 0, 10.0, 2.0, label="default"), _row("c", 1, 0, 0, status="collapsed")]
    verdicts = choosing.robustness_verdicts(choosing.family_summary(rows))
    assert verdicts["a"].startswith("robust") and NO_CLEAR_DIFFERENCE in verdicts["a"]
    assert verdicts["b"].startswith("sensitive") and "3.0x" in verdicts["b"]
    assert verdicts["c"].startswith("sensitive") and "1 of 2 failed" in verdicts["c"]


def test_the_ranking_names_a_winner_only_beyond_two_standard_errors():
    tie = [_row("a", 0, 10.0, 3.0, label="default"), _row("b", 0, 11.0, 3.0, label="default")]
    verdict = choosing.ranking_verdict(choosing.family_summary(tie))
    assert verdict["default_winner"] is None and NO_CLEAR_DIFFERENCE in verdict["sentence"]
    changes = [_row("a", 0, 10.0, 0.5, label="default"), _row("a", 1, 9.0, 0.5),
               _row("b", 0, 20.0, 0.5, label="default"), _row("b", 1, 5.0, 0.5)]
    verdict = choosing.ranking_verdict(choosing.family_summary(changes))
    assert (verdict["default_winner"], verdict["best_winner"]) == ("a", "b")
    assert "changes with tuning" in verdict["sentence"] and verdict["best_order"] == ["b", "a"]
    failed_default = [_row("a", 0, 0, 0, status="diverged", label="default"), _row("a", 1, 5.0, 0.5),
                      _row("b", 0, 20.0, 0.5, label="default")]
    verdict = choosing.ranking_verdict(choosing.family_summary(failed_default))
    assert verdict["default_order"] == ["b"] and verdict["best_winner"] == "a"


def _table_row(fd, half_width, share, seconds, tstr=None, n=300):
    return {"fd": fd, "fd_low": fd - half_width, "fd_high": fd + half_width, "coverage": share, "precision": share,
            "n_images": n, "seconds_per_image": seconds, "tstr": tstr}


def test_comparison_verdicts_decide_with_their_uncertainty():
    table = {"real (floor)": _table_row(0.2, 0.05, 0.9, 0.0, tstr=0.8),
             "gan": _table_row(5.0, 0.5, 0.30, 0.0002), "ddpm": _table_row(5.3, 0.5, 0.31, 0.02),
             "ddim": _table_row(30.0, 0.5, 0.31, 0.002, tstr=0.4), "cgan": _table_row(6.0, 0.5, 0.3, 0.0002, tstr=0.41)}
    verdicts = choosing.comparison_verdicts(table, gan="gan", diffusion=["ddpm", "ddim"], n_test=300, num_classes=7)
    for key in ("fidelity", "realism", "coverage", "utility"):
        assert verdicts[key].startswith(NO_CLEAR_DIFFERENCE), (key, verdicts[key])
    assert "ddpm" in verdicts["fidelity"], "the diffusion row with the lower distance is compared"
    assert verdicts["cost"].startswith("ddpm costs 100x")
    assert "neither confirms nor contradicts" in verdicts["skingenbench"]
    table["ddpm"] = _table_row(9.0, 0.5, 0.6, 0.02)
    table["ddim"]["tstr"] = 0.6
    verdicts = choosing.comparison_verdicts(table, gan="gan", diffusion=["ddpm", "ddim"], n_test=300, num_classes=7)
    assert verdicts["fidelity"].startswith("gan is clearly lower") and verdicts["skingenbench"].startswith("agrees")
    assert verdicts["coverage"].startswith("ddpm is clearly higher")
    assert verdicts["utility"].startswith("ddim is clearly higher")
    table["real (floor)"]["tstr"] = 0.16  # a classifier trained on real images at chance (1/7): TSTR means nothing
    verdicts = choosing.comparison_verdicts(table, gan="gan", diffusion=["ddpm", "ddim"], n_test=300, num_classes=7)
    assert "not clearly above chance" in verdicts["utility"] and NO_CLEAR_DIFFERENCE in verdicts["utility"]


def test_the_sampler_verdict_names_the_best_ddim_and_its_share_of_the_passes():
    rows = [{"sampler": "DDPM (250 steps)", "network_passes": 250, "fd": 50.0, "fd_low": 45.0, "fd_high": 55.0},
            {"sampler": "DDIM (10 steps)", "network_passes": 10, "fd": 30.0, "fd_low": 28.0, "fd_high": 32.0},
            {"sampler": "DDIM (50 steps)", "network_passes": 50, "fd": 12.0, "fd_low": 11.0, "fd_high": 13.0}]
    verdict = choosing.sampler_verdict(rows)
    assert verdict.startswith("DDIM (50 steps) is clearly lower") and verdict.endswith("20% of the DDPM's network passes")
    rows[0].update(fd=12.5, fd_low=11.0, fd_high=14.0)
    assert choosing.sampler_verdict(rows).startswith(NO_CLEAR_DIFFERENCE)
