"""Regression baselines: every notebook's metrics under the smoke profile stay within tests/baselines/smoke.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from medgan_nb.tools import baselines as bl
from medgan_nb.tools.baselines import check_metrics, load_baselines, rewrite_baselines

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SMOKE = ROOT / "tests" / "baselines" / "smoke.json"
SMOKE_FILES = sorted(SMOKE.parent.glob("smoke*.json"))  # the phantom's and the real-format exports' (smoke-<dataset>)


# ----------------------------------------------------------------------------
# The generic regression test: one per notebook
# ----------------------------------------------------------------------------

@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_metrics_stay_within_their_baselines(notebook_runs, path):
    baselines = load_baselines(SMOKE)
    # Checked before executing, so a new notebook without bounds fails at once with the fix.
    assert path.stem in baselines, "\n".join(check_metrics(path.stem, {"profile": "smoke"}, baselines))
    failures = check_metrics(path.stem, notebook_runs(path.stem), baselines)
    assert not failures, "\n".join(failures)


def test_every_baseline_entry_names_an_existing_notebook():
    stale = sorted(set(load_baselines(SMOKE)) - {p.stem for p in NOTEBOOKS})
    assert not stale, f"{SMOKE.name} has entries for notebooks that no longer exist: {stale}; remove them"


def test_smoke_baselines_record_observed_values_that_satisfy_their_bounds():
    """The file shows what the last `make baselines` run measured, and those values respect the plain bounds."""
    for notebook, metrics in load_baselines(SMOKE).items():
        for metric, bounds in metrics.items():
            for bound in bounds:
                assert "observed" in bound, f"{notebook}.{metric}: run `make baselines PROFILE=smoke` to record it"
                if "[" not in metric and not any(kind in bound for kind in bl.RATIO_KINDS):
                    recorded = {metric: bound["observed"]}
                    assert not check_metrics(notebook, recorded, {notebook: {metric: [bound]}}), (notebook, metric, bound)
    assert json.loads(SMOKE.read_text())["_about"], "the file explains its schema in _about"


# ----------------------------------------------------------------------------
# check_metrics on constructed metrics: each bound kind passes and fails, with its message
# ----------------------------------------------------------------------------

NB = "02_dcgan_skin_lesions"


def check(metric: str, bound: dict, **metrics) -> list[str]:
    bound = {"why": "because", **bound}
    return check_metrics(NB, metrics, {NB: {metric: [bound]}})


def test_max_bound_passes_at_or_below_and_fails_above_with_the_numbers():
    assert check("image_min", {"max": -0.2}, image_min=-0.9) == []
    assert check("image_min", {"max": -0.2}, image_min=-0.2) == []
    assert check("image_min", {"max": -0.2}, image_min=-0.1) == [
        f"{NB}: image_min = -0.1 is above its bound -0.2 (because)"
    ]


def test_min_bound_passes_at_or_above_and_fails_below_with_the_numbers():
    assert check("memorization_ratio", {"min": 0.5}, memorization_ratio=0.93) == []
    assert check("memorization_ratio", {"min": 0.5}, memorization_ratio=0.31) == [
        f"{NB}: memorization_ratio = 0.31 is below its bound 0.5 (because)"
    ]


def test_max_ratio_bound_names_the_other_metric_and_the_limit():
    bound = {"max_ratio_to": "fd_untrained", "value": 0.8, "why": "training must cut the distance to real images"}
    assert check("fd_trained", bound, fd_trained=2.0, fd_untrained=5.25) == []
    assert check("fd_trained", bound, fd_trained=5.1, fd_untrained=5.25) == [
        f"{NB}: fd_trained = 5.1 is above its bound 0.8 × fd_untrained = 4.2 (training must cut the distance to real images)"
    ]


def test_min_ratio_bound_names_the_other_metric_and_the_limit():
    bound = {"min_ratio_to": "dirac_initial_distance", "value": 1.5}
    assert check("d_last", bound, d_last=3.0, dirac_initial_distance=1.0) == []
    assert check("d_last", bound, d_last=1.2, dirac_initial_distance=1.0) == [
        f"{NB}: d_last = 1.2 is below its bound 1.5 × dirac_initial_distance = 1.5 (because)"
    ]


def test_ratio_bound_with_negative_reference_compares_the_products():
    # value_at_dstar runs from about -0.2 towards -log 4: the last must not be above the first
    bound = {"max_ratio_to": "v[0]", "value": 1.0}
    assert check("v[-1]", bound, v=[-0.2, -0.9, -1.3]) == []
    assert check("v[-1]", bound, v=[-0.9, -0.2]) == [f"{NB}: v[-1] = -0.2 is above its bound 1 × v[0] = -0.9 (because)"]


def test_equals_bound_for_booleans_and_lists():
    assert check("reload_identical", {"equals": True}, reload_identical=True) == []
    assert check("reload_identical", {"equals": True}, reload_identical=False) == [
        f"{NB}: reload_identical = False, expected True (because)"
    ]
    assert check("reload_identical", {"equals": True}, reload_identical=1) != [], "1 must not pass for True"
    assert check("image_shape", {"equals": [3, 32, 32]}, image_shape=[3, 32, 32]) == []
    assert check("image_shape", {"equals": [3, 32, 32]}, image_shape=[3, 64, 64]) == [
        f"{NB}: image_shape = [3, 64, 64], expected [3, 32, 32] (because)"
    ]


def test_list_items_are_addressed_by_index():
    bound = {"max_ratio_to": "grad[0]", "value": 0.2}
    assert check("grad[-1]", bound, grad=[1.0, 0.5, 0.1]) == []
    assert check("grad[1]", bound, grad=[1.0, 0.5, 0.1]) == [f"{NB}: grad[1] = 0.5 is above its bound 0.2 × grad[0] = 0.2 (because)"]


def test_missing_or_non_numeric_metrics_are_failures_not_passes():
    assert check("fd_trained", {"max": 1.0}, other=1.0) == [
        f"{NB}: fd_trained is missing from metrics.json, so its bound <= 1 cannot be checked (because)"
    ]
    assert "is not a finite number" in check("fd_trained", {"max": 1.0}, fd_trained=None)[0]  # NaN is stored as null
    assert "is missing from metrics.json" in check("grad[5]", {"max": 1.0}, grad=[1.0])[0]
    message = check("fd_trained", {"max_ratio_to": "fd_untrained", "value": 0.8}, fd_trained=1.0)[0]
    assert "fd_untrained (the reference of fd_trained's bound) is missing" in message


def test_notebook_without_entry_says_to_add_one():
    (message,) = check_metrics("03_new_notebook", {"profile": "smoke", "fd": 1.0}, {NB: {}})
    assert message.startswith("03_new_notebook: no baseline entry; add bounds")
    assert "tests/baselines/smoke.json" in message and "make baselines PROFILE=smoke" in message


def test_all_failures_of_a_notebook_are_reported_together():
    baselines = {NB: {"a": [{"max": 1, "why": "x"}, {"min": 0, "why": "y"}], "b": [{"equals": True, "why": "z"}]}}
    assert len(check_metrics(NB, {"a": 5, "b": False}, baselines)) == 2


# ----------------------------------------------------------------------------
# load_baselines refuses malformed bounds, naming the place and the fix
# ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "bound, message",
    [
        ({"max": 1, "min": 0, "why": "w"}, "exactly one of max, min, max_ratio_to, min_ratio_to, equals"),
        ({"why": "w"}, "exactly one of"),
        ({"max": 1}, 'needs a "why"'),
        ({"max": "1", "why": "w"}, "max needs a number"),
        ({"max_ratio_to": "fd_untrained", "why": "w"}, 'needs the other metric\'s name and a number "value"'),
        ({"max": 1, "value": 2, "why": "w"}, '"value" belongs to ratio bounds only'),
        ({"max": 1, "tolerance": 2, "why": "w"}, "unknown key(s) ['tolerance']"),
    ],
)
def test_malformed_bound_is_named(tmp_path, bound, message):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({NB: {"fd_trained": [bound]}}))
    with pytest.raises(ValueError) as error:
        load_baselines(path)
    assert message in str(error.value) and f"{path}: {NB}.fd_trained" in str(error.value)


def test_missing_or_broken_baselines_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="copy tests/baselines/smoke.json"):
        load_baselines(tmp_path / "gpu.json")
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        load_baselines(tmp_path / "bad.json")


def test_a_single_bound_may_be_written_without_a_list(tmp_path):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({NB: {"fd_trained": {"max": 1.0, "why": "w"}}}))
    assert load_baselines(path) == {NB: {"fd_trained": [{"max": 1.0, "why": "w"}]}}


# ----------------------------------------------------------------------------
# rewrite_baselines: records observed values, keeps bounds, one bound per line
# ----------------------------------------------------------------------------

def _row(notebook: str, status: str = "ok", **metrics) -> dict:
    return {"notebook": notebook, "status": status, "seconds": 1.0, "error": None if status == "ok" else "boom",
            "metrics": metrics}


def test_rewrite_records_observed_values_and_keeps_bounds(tmp_path):
    path = tmp_path / "smoke.json"
    original = {
        NB: {
            "fd_trained": [{"max_ratio_to": "fd_untrained", "value": 0.8, "why": "cut the distance", "observed": 1.0}],
            "reload_identical": [{"equals": True, "why": "reloads"}],
        },
        "01_gan_theory": {"x": [{"min": 0, "why": "kept", "observed": 3}]},
    }
    path.write_text(json.dumps(original))
    skipped = rewrite_baselines(
        [_row(NB, fd_trained=2.123456, fd_untrained=5.0, reload_identical=True), _row("01_gan_theory", "FAILED"),
         _row("03_new", fd=1.0)],
        path,
    )
    data = json.loads(path.read_text())
    assert data[NB]["fd_trained"] == [
        {"max_ratio_to": "fd_untrained", "value": 0.8, "observed": 2.123, "observed_limit": 4.0, "why": "cut the distance"}
    ]
    assert data[NB]["reload_identical"] == [{"equals": True, "observed": True, "why": "reloads"}]
    assert data["01_gan_theory"] == original["01_gan_theory"], "a failed run must not overwrite recorded values"
    assert "03_new" not in data, "bounds are written by hand, never invented"
    assert [s.split(":")[0] for s in skipped] == ["01_gan_theory", "03_new"]
    assert "no baseline entry" in skipped[1]
    # One bound per line: a changed observation is a one-line diff.
    line = next(l for l in path.read_text().splitlines() if "fd_untrained" in l)
    assert line.strip().startswith('{"max_ratio_to": "fd_untrained"') and line.strip().endswith('"why": "cut the distance"}')
    assert load_baselines(path)[NB]["fd_trained"][0]["value"] == 0.8


def test_rewrite_records_the_spread_over_other_seeds_and_the_worst_margin(tmp_path):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({NB: {
        "fd_trained": [{"max_ratio_to": "fd_untrained", "value": 0.8, "why": "cut the distance"}],
        "share": [{"min": 0.5, "why": "above half"}, {"max": 0.9, "why": "below 0.9"}],
        "reload_identical": [{"equals": True, "why": "reloads"}],
    }}))
    default = _row(NB, fd_trained=2.0, fd_untrained=5.0, share=0.6, reload_identical=True)
    seed1 = _row(NB, fd_trained=3.5, fd_untrained=5.0, share=0.8, reload_identical=True)
    seed2 = _row(NB, fd_trained=4.1, fd_untrained=5.0, share=0.55, reload_identical=True)
    assert rewrite_baselines([default], path, [[seed1], [seed2]]) == []
    data = json.loads(path.read_text())[NB]
    fd = data["fd_trained"][0]
    assert fd["observed"] == 2.0 and fd["observed_range"] == [2.0, 4.1]
    assert fd["worst_margin"] == pytest.approx(-0.1)  # seed 2 broke 0.8 x 5.0 = 4.0 by 0.1
    assert [b["worst_margin"] for b in data["share"]] == [pytest.approx(0.05), pytest.approx(0.1)]
    assert data["share"][0]["observed_range"] == [0.55, 0.8]
    assert "worst_margin" not in data["reload_identical"][0]  # no margin for an equality
    # a seed whose run failed: the spread is not recorded rather than recorded from fewer runs
    skipped = rewrite_baselines([default], path, [[seed1], [_row(NB, "FAILED")]])
    assert skipped and "without its spread" in skipped[0]
    assert "observed_range" not in json.loads(path.read_text())[NB]["share"][0]


def test_the_smoke_file_is_in_the_layout_rewrite_baselines_writes(tmp_path):
    """So that `make baselines` changes only observed values, never the layout of the committed file."""
    copy = tmp_path / "smoke.json"
    copy.write_text(SMOKE.read_text())
    rewrite_baselines([], copy)  # no rows: nothing is recorded, the file is only written again
    assert copy.read_text() == SMOKE.read_text(), "reformat tests/baselines/smoke.json with `make baselines PROFILE=smoke`"


def test_cli_records_from_a_summary_and_exits_nonzero_on_a_broken_bound(tmp_path, capsys):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({NB: {"fd_trained": [{"max_ratio_to": "fd_untrained", "value": 0.8, "why": "cut it"}]}}))
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps([_row(NB, fd_trained=5.1, fd_untrained=5.25, profile="smoke")]))
    status = bl.main(["--profile", "smoke", "--baselines", str(path), "--from-summary", str(summary)])
    assert status == 1
    printed = capsys.readouterr().out
    assert "fd_trained = 5.1 is above its bound 0.8 × fd_untrained = 4.2 (cut it)" in printed
    assert json.loads(path.read_text())[NB]["fd_trained"][0]["observed"] == 5.1
    summary.write_text(json.dumps([_row(NB, fd_trained=2.0, fd_untrained=5.25, profile="smoke")]))
    assert bl.main(["--profile", "smoke", "--baselines", str(path), "--from-summary", str(summary)]) == 0
    assert json.loads(path.read_text())[NB]["fd_trained"][0]["observed_limit"] == 4.2


def test_cli_without_a_baselines_file_is_an_error(tmp_path, capsys):
    assert bl.main(["--profile", "gpu", "--baselines", str(tmp_path / "gpu.json")]) == 2
    assert "no baselines file" in capsys.readouterr().err


def test_every_bound_kept_a_margin_in_every_seed_the_last_baselines_run_tried():
    """A bound inside the spread over seeds decides by chance: `make baselines` records the worst margin of each."""
    inside = [f"{path.name}: {notebook}.{metric}: worst margin {bound['worst_margin']} over seeds "
              f"{bound.get('observed_range')} ({bound['why']})"
              for path in SMOKE_FILES for notebook, metrics in load_baselines(path).items()
              for metric, bounds in metrics.items() for bound in bounds if bound.get("worst_margin", 0) < 0]
    assert not inside, "move these bounds outside the observed spread, or test the effect where it is large:\n" + \
        "\n".join(inside)


def test_every_effect_tested_elsewhere_names_a_notebook_and_a_test_that_exist():
    notes = [(path.name, notebook, effects) for path in SMOKE_FILES
             for notebook, effects in json.loads(path.read_text()).get("_effects_tested_elsewhere", {}).items()]
    assert any(name == SMOKE.name for name, _, _ in notes), "smoke.json lost its _effects_tested_elsewhere"
    stems = {p.stem for p in NOTEBOOKS}
    for _, notebook, effects in notes:
        assert notebook in stems, f"_effects_tested_elsewhere names {notebook}, which is not a notebook"
        for effect, note in effects.items():
            assert note["why"] and note["tests"], (notebook, effect)
            for nodeid in note["tests"]:
                path, _, name = nodeid.partition("::")
                source = ROOT / path
                assert source.is_file() and f"\ndef {name}(" in source.read_text(), \
                    f"{notebook} / {effect}: {nodeid} does not exist; name the test that shows the effect"
