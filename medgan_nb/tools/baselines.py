r"""Regression baselines: bounds that each notebook's ``metrics.json`` must respect under a profile.

``tests/baselines/<profile>.json`` maps notebook -> metric -> a list of bounds.
A metric is a key of ``metrics.json``, or ``key[i]`` for item ``i`` of a list
(``i`` may be negative: ``[-1]`` is the last). Each bound has exactly one kind
and a ``why`` that says what the bound protects; for a metric :math:`m`:

.. math::
    \texttt{max}: m \le v \qquad
    \texttt{min}: m \ge v \qquad
    \texttt{max\_ratio\_to}: m \le k\,m' \qquad
    \texttt{min\_ratio\_to}: m \ge k\,m' \qquad
    \texttt{equals}: m = v

written ``{"max": v}``, ``{"min": v}``, ``{"max_ratio_to": "m'", "value": k}``,
``{"min_ratio_to": "m'", "value": k}`` and ``{"equals": v}`` (v a boolean,
number, string or list). Next to each bound, ``make baselines`` records what
the last run observed (``observed``: :math:`m`; for ratio bounds also
``observed_limit``: :math:`k\,m'`, the bound that run had to meet). Only those fields are ever rewritten, one
bound per line, so a change of behaviour shows up in review as a one-line diff
of an observed value, and a change of tolerance as a diff of the bound itself.

A bound must hold with a margin beyond the run-to-run noise, not only for the
one seed the tests execute. So ``make baselines`` executes every notebook with
its default seed (the run the tests repeat) and again with a few other seeds
(``--seeds``, default 1 and 2), checks every run against the bounds, and records
the spread: ``observed_range`` (:math:`[\min m, \max m]` over the runs) and, for
a numeric bound, ``worst_margin`` (the smallest distance by which a run kept
inside it, :math:`v - m` for ``max``, :math:`m - k\,m'` for ``min_ratio_to``, ...;
negative when a run broke it). A bound whose worst margin is small next to the
spread sits inside the noise: move it, or test the effect where it is large.

Update the recorded values after a deliberate change (then read the diff)::

    make baselines PROFILE=smoke      # = python -m medgan_nb.tools.baselines --profile smoke
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from ..runtime import project_root
from .runner import build_parser, execute_from_args, failure_report, summary_table, write_summary

KINDS = ("max", "min", "max_ratio_to", "min_ratio_to", "equals")
RATIO_KINDS = ("max_ratio_to", "min_ratio_to")
RECORDED = ("observed", "observed_limit", "observed_range", "worst_margin")  # the only fields rewrite_baselines changes
DEFAULT_EXTRA_SEEDS = (1, 2)  # make baselines: runs beside the notebook's default seed, for the spread
ALLOWED_KEYS = set(KINDS) | {"value", "why"} | set(RECORDED)
METRIC_REF = re.compile(r"^(?P<name>[^\[\]]+?)(?:\[(?P<index>-?\d+)\])?$")
SIGNIFICANT_DIGITS = 4  # recorded values are rounded so that noise below this does not fill a diff
ABOUT = [
    "Regression bounds per notebook and metric of metrics.json; see medgan_nb/tools/baselines.py.",
    "A metric is a metrics.json key, or key[i] for item i of a list (key[-1]: the last).",
    "Bounds: {\"max\": v}, {\"min\": v}, {\"max_ratio_to\": \"other\", \"value\": k} (metric <= k * other),",
    "{\"min_ratio_to\": \"other\", \"value\": k} (metric >= k * other), {\"equals\": v}; each with a \"why\".",
    "\"observed\" is the metric the last `make baselines` run measured with the notebook's default seed, \"observed_limit\" its k * other;",
    "\"observed_range\" is [min, max] over that run and the other seeds' runs, \"worst_margin\" the least slack any run kept;",
    "only these are rewritten, so a change of behaviour shows as a one-line diff.",
    "\"_effects_tested_elsewhere\": per notebook, effects its smoke budget is too short to show, the unit tests that show",
    "each one instead, and why (the spread over seeds that made a notebook bound on it meaningless).",
]


# ----------------------------------------------------------------------------
# Reading and checking
# ----------------------------------------------------------------------------

def baselines_path(profile: str, root: Path | None = None, dataset: str | None = None) -> Path:
    """Return where the baselines of ``profile`` live: ``tests/baselines/<profile>.json`` in the project.

    Runs on another dataset than the phantom (e.g. a phantom exported in
    HAM10000's file layout) have their own file, ``<profile>-<dataset>.json``.
    """
    name = profile if dataset in (None, "phantom") else f"{profile}-{dataset}"
    return (root or project_root()) / "tests" / "baselines" / f"{name}.json"


def load_baselines(path: str | Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Return notebook -> metric -> list of bounds from ``path``, after checking every bound's form."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no baselines file {path}; copy tests/baselines/smoke.json to it and adjust the bounds, "
            "then run `make baselines PROFILE=<profile>` to record observed values"
        )
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix the file (git diff shows what changed)") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object notebook -> metric -> bounds, got {type(raw).__name__}")
    baselines: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for notebook, metrics in raw.items():
        if notebook.startswith("_"):  # "_about" and other notes
            continue
        if not isinstance(metrics, dict):
            raise ValueError(f"{path}: {notebook} must map metric names to bounds, got {metrics!r}")
        baselines[notebook] = {}
        for metric, bounds in metrics.items():
            bounds = [bounds] if isinstance(bounds, dict) else bounds  # one bound may be written without a list
            if not isinstance(bounds, list) or not bounds:
                raise ValueError(f"{path}: {notebook}.{metric} must be a bound or a non-empty list of bounds, got {bounds!r}")
            for bound in bounds:
                _check_bound(bound, f"{path}: {notebook}.{metric}")
            _parse_ref(metric, f"{path}: {notebook}")
            baselines[notebook][metric] = bounds
    return baselines


def _check_bound(bound: Any, where: str) -> None:
    """Raise ValueError naming ``where`` unless ``bound`` is one well-formed bound."""
    if not isinstance(bound, dict):
        raise ValueError(f"{where}: a bound must be a JSON object, got {bound!r}")
    kinds = [k for k in KINDS if k in bound]
    if len(kinds) != 1:
        raise ValueError(f"{where}: a bound needs exactly one of {', '.join(KINDS)}, got {sorted(bound)}")
    unknown = sorted(set(bound) - ALLOWED_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} in {bound}; a bound may hold {sorted(ALLOWED_KEYS)}")
    if not isinstance(bound.get("why"), str) or not bound["why"].strip():
        raise ValueError(f"{where}: bound {bound} needs a \"why\": one sentence on what it protects")
    kind = kinds[0]
    if kind in RATIO_KINDS:
        if not isinstance(bound[kind], str) or not _is_number(bound.get("value")):
            raise ValueError(
                f"{where}: {kind} needs the other metric's name and a number \"value\" (the factor k), got {bound}"
            )
        _parse_ref(bound[kind], where)
    elif kind in ("max", "min") and not _is_number(bound[kind]):
        raise ValueError(f"{where}: {kind} needs a number, got {bound[kind]!r}")
    elif "value" in bound and kind not in RATIO_KINDS:
        raise ValueError(f"{where}: \"value\" belongs to ratio bounds only; write {{\"{kind}\": ...}} alone")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_ref(ref: str, where: str) -> tuple[str, int | None]:
    """Return (key, index or None) of a metric reference ``key`` or ``key[i]``."""
    match = METRIC_REF.match(ref)
    if not match:
        raise ValueError(f"{where}: {ref!r} is not a metric name; write key or key[i] (e.g. losses[-1])")
    index = match.group("index")
    return match.group("name"), None if index is None else int(index)


def _lookup(metrics: dict[str, Any], ref: str) -> tuple[bool, Any]:
    """Return (found, value) of the metric reference ``ref`` in ``metrics``."""
    name, index = _parse_ref(ref, "metric reference")
    if name not in metrics:
        return False, None
    value = metrics[name]
    if index is None:
        return True, value
    if not isinstance(value, list) or not -len(value) <= index < len(value):
        return False, None
    return True, value[index]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def check_metrics(notebook: str, metrics: dict[str, Any], baselines: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Return one message per bound of ``notebook`` that ``metrics`` breaks (empty if all hold)."""
    profile = metrics.get("profile", "<profile>")
    if not baselines.get(notebook):
        return [
            f"{notebook}: no baseline entry; add bounds for its key metrics to tests/baselines/{profile}.json "
            f"(each with a \"why\"), then run `make baselines PROFILE={profile}` to record the observed values"
        ]
    failures = []
    for metric, bounds in baselines[notebook].items():
        for bound in bounds:
            message = _check_one(metric, bound, metrics)
            if message:
                failures.append(f"{notebook}: {message} ({bound['why']})")
    return failures


def _check_one(metric: str, bound: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    """Return why ``metrics`` breaks ``bound`` on ``metric``, or None if it holds."""
    kind = next(k for k in KINDS if k in bound)
    found, value = _lookup(metrics, metric)
    if not found:
        return f"{metric} is missing from metrics.json, so its bound {_describe(kind, bound)} cannot be checked"
    if kind == "equals":
        expected = bound["equals"]
        same_kind = isinstance(value, bool) == isinstance(expected, bool)  # True must not pass for 1
        return None if same_kind and value == expected else f"{metric} = {_fmt(value)}, expected {_fmt(expected)}"
    if not _is_number(value):
        return f"{metric} = {_fmt(value)} is not a finite number, so it cannot be within {_describe(kind, bound)}"
    if kind in RATIO_KINDS:
        other = bound[kind]
        found, other_value = _lookup(metrics, other)
        if not found or not _is_number(other_value):
            return f"{other} (the reference of {metric}'s bound) is missing or not a finite number: {_fmt(other_value)}"
        limit = bound["value"] * other_value
        limit_text = f"{_fmt(bound['value'])} × {other} = {_fmt(float(limit))}"
    else:
        limit = bound[kind]
        limit_text = _fmt(limit)
    if kind.startswith("max") and value > limit:
        return f"{metric} = {_fmt(value)} is above its bound {limit_text}"
    if kind.startswith("min") and value < limit:
        return f"{metric} = {_fmt(value)} is below its bound {limit_text}"
    return None


def _margin(metric: str, bound: dict[str, Any], metrics: dict[str, Any]) -> float | None:
    """Return how far ``metrics`` keeps inside a numeric ``bound`` (negative: broken), or None if not numeric."""
    kind = next(k for k in KINDS if k in bound)
    found, value = _lookup(metrics, metric)
    if kind == "equals" or not found or not _is_number(value):
        return None
    if kind in RATIO_KINDS:
        found, other = _lookup(metrics, bound[kind])
        if not found or not _is_number(other):
            return None
        limit = bound["value"] * other
    else:
        limit = bound[kind]
    return float(limit - value) if kind.startswith("max") else float(value - limit)


def _describe(kind: str, bound: dict[str, Any]) -> str:
    """Return a bound in words, e.g. "<= 0.8 × fd_untrained"."""
    if kind in RATIO_KINDS:
        return f"{'<=' if kind.startswith('max') else '>='} {_fmt(bound['value'])} × {bound[kind]}"
    return {"max": "<=", "min": ">=", "equals": "=="}[kind] + f" {_fmt(bound[kind])}"


# ----------------------------------------------------------------------------
# Recording a fresh run
# ----------------------------------------------------------------------------

def _rounded(value: Any) -> Any:
    """Return ``value`` rounded to SIGNIFICANT_DIGITS if it is a float, else unchanged."""
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def _record(metric: str, bound: dict[str, Any], metrics: dict[str, Any],
            other_runs: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Return ``bound`` with its observed value(s) from ``metrics`` (and its spread over ``other_runs`` as well).

    The bound itself is kept as it is.
    """
    kind = next(k for k in KINDS if k in bound)
    found, value = _lookup(metrics, metric)
    updated = {key: bound[key] for key in bound if key not in RECORDED}
    updated["observed"] = _rounded(value) if found else None
    if kind in RATIO_KINDS:  # k m' rather than m / m': it reads right when m' is negative or zero
        found_other, other = _lookup(metrics, bound[kind])
        updated["observed_limit"] = _rounded(float(bound["value"] * other)) if found_other and _is_number(other) else None
    if other_runs:
        runs = [metrics, *other_runs]
        values = [v for ok, v in (_lookup(run, metric) for run in runs) if ok and _is_number(v)]
        if len(values) == len(runs):
            updated["observed_range"] = [_rounded(float(min(values))), _rounded(float(max(values)))]
        margins = [_margin(metric, bound, run) for run in runs]
        if margins and all(m is not None for m in margins):
            updated["worst_margin"] = _rounded(min(margins))
    # Fixed key order: the bound, the observations, then why (so the numbers sit together in a diff).
    order = [*KINDS, "value", *RECORDED, "why"]
    return {key: updated[key] for key in order if key in updated}


def rewrite_baselines(rows: list[dict[str, Any]], path: str | Path,
                      other_seed_rows: list[list[dict[str, Any]]] = ()) -> list[str]:
    """Record the observed values of ``rows`` (executed notebooks) in ``path``; return the notebooks left as they were.

    ``other_seed_rows`` holds the same notebooks executed with other seeds (one
    list of rows per seed); with them, each bound also records the spread
    (``observed_range``, ``worst_margin``). Bounds and ``why`` are kept;
    notebooks that failed, or ran without a baseline entry, keep their old
    values and are returned (with the reason).
    """
    path = Path(path)
    baselines = load_baselines(path)
    raw = json.loads(path.read_text())
    skipped = []
    for row in rows:
        notebook, metrics = row["notebook"], row.get("metrics") or {}
        if row.get("status") != "ok" or not metrics:
            skipped.append(f"{notebook}: not recorded, the run did not succeed ({row.get('status')}: {row.get('error')})")
            continue
        if notebook not in baselines:
            skipped.append(f"{notebook}: no baseline entry in {path}; add its bounds by hand, then run this again")
            continue
        others = [r["metrics"] for seed_rows in other_seed_rows for r in seed_rows
                  if r["notebook"] == notebook and r.get("status") == "ok" and r.get("metrics")]
        if len(others) < len(other_seed_rows):
            skipped.append(f"{notebook}: recorded without its spread, a run with another seed did not succeed")
            others = []
        raw[notebook] = {metric: [_record(metric, b, metrics, others) for b in bounds]
                         for metric, bounds in baselines[notebook].items()}
    raw["_about"] = ABOUT
    path.write_text(_dumps(raw))
    return skipped


def _dumps(raw: dict[str, Any]) -> str:
    """Return the baselines as JSON with one bound per line (readable diffs); the notes come first."""
    lines = ["{"]
    keys = sorted(raw, key=lambda k: (not k.startswith("_"), k))
    for i, notebook in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        if notebook.startswith("_"):
            lines.append(f"  {json.dumps(notebook)}: {json.dumps(raw[notebook], ensure_ascii=False, indent=2).replace(chr(10), chr(10) + '  ')}{comma}")
            continue
        lines.append(f"  {json.dumps(notebook)}: {{")
        metrics = list(raw[notebook].items())
        for j, (metric, bounds) in enumerate(metrics):
            bounds = [bounds] if isinstance(bounds, dict) else bounds
            inner = ",\n".join(f"      {json.dumps(b, ensure_ascii=False)}" for b in bounds)
            lines.append(f"    {json.dumps(metric)}: [\n{inner}\n    ]{',' if j < len(metrics) - 1 else ''}")
        lines.append(f"  }}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: execute the notebooks, check them against the baselines and record the observed values."""
    parser = build_parser("Execute the notebooks and record their metrics in tests/baselines/<profile>.json.")
    parser.add_argument("--baselines", default=None, help="baselines file (default: tests/baselines/<profile>.json)")
    parser.add_argument("--from-summary", default=None,
                        help="record from an earlier run's summary.json instead of executing the notebooks")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(DEFAULT_EXTRA_SEEDS),
                        help="seeds to execute each notebook with besides its default, for the spread (default: 1 2; "
                             "none: --seeds with no value)")
    args = parser.parse_args(argv)
    path = Path(args.baselines) if args.baselines else baselines_path(args.profile, dataset=args.dataset)
    try:
        baselines = load_baselines(path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    other_seed_rows: list[list[dict[str, Any]]] = []
    if args.from_summary:  # an earlier run: its other seeds' rows lie beside it, in seed<k>/summary.json
        summary = Path(args.from_summary)
        rows = json.loads(summary.read_text())
        seeds = [seed for seed in args.seeds if (summary.parent / f"seed{seed}" / "summary.json").is_file()]
        other_seed_rows = [json.loads((summary.parent / f"seed{seed}" / "summary.json").read_text()) for seed in seeds]
        args.seeds = seeds
    else:
        executed = execute_from_args(args)
        if executed is None:
            return 2
        rows, out_root = executed
        _report(rows, out_root, args.profile)
        for seed in args.seeds:
            print(f"\nThe same notebooks with seed={seed} (for the spread of each metric):")
            seed_rows, seed_root = execute_from_args(args, {"seed": seed}, out=out_root / f"seed{seed}")
            _report(seed_rows, seed_root, args.profile)
            other_seed_rows.append(seed_rows)
    failures = [m for row in rows if row.get("status") == "ok" for m in check_metrics(row["notebook"], row["metrics"], baselines)]
    for seed, seed_rows in zip(args.seeds, other_seed_rows):
        failures += [f"(seed={seed}) {m}" for row in seed_rows if row.get("status") == "ok"
                     for m in check_metrics(row["notebook"], row["metrics"], baselines)]
    skipped = rewrite_baselines(rows, path, other_seed_rows)
    print(f"\nRecorded the observed values in {path}; review them with `git diff {path}`.")
    for line in skipped:
        print(f"  skipped {line}")
    if failures:
        print("\nBounds broken by this run (bounds are not changed by this command; edit them by hand if intended):")
        for line in failures:
            print(f"  {line}")
    return 0 if not failures and not skipped else 1


def _report(rows: list[dict[str, Any]], out_root: Path, profile: str) -> None:
    """Write the summary files of ``rows`` and print their table and failures."""
    write_summary(rows, out_root, profile)
    print()
    print(summary_table(rows))
    report = failure_report(rows)
    if report:
        print("\n" + report)


if __name__ == "__main__":
    raise SystemExit(main())
