"""Glue between the notebooks, papermill and the tests.

Every notebook's first code cell is tagged ``parameters`` and holds the same
knobs (``profile``, ``dataset``, ``data_root``, ``image_size``, ``steps``,
``batch_size``, ``device``, ``seed``, ``output_dir``). Knobs left at ``None``
take the profile's default from the table the notebook passes to
:func:`start`. Each notebook ends with :func:`write_metrics`, which the tests
and the ``make notebooks`` summary read.

Run every notebook headlessly (what ``make notebooks`` does)::

    python -m medgan_nb.notebook --profile cpu [--dataset phantom] [--only 02]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .runtime import check_profile, pick_device, project_root, seed_everything

COMMON_KNOBS = ("image_size", "steps", "batch_size")
# Longest a single cell may run headlessly before papermill stops it, so a cell that hangs
# (e.g. a widget waiting for a frontend) fails the run with a clear error instead of stalling CI.
CELL_TIMEOUT_SECONDS = {"smoke": 600, "cpu": 3600, "gpu": None}


@dataclass
class NotebookRun:
    """The resolved knobs of one notebook run."""

    name: str
    profile: str
    dataset: str
    data_root: str | None
    image_size: int | None
    steps: int | None
    batch_size: int | None
    device: torch.device
    seed: int
    output_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        # Notebook-specific knobs (e.g. ``n_modes``) live in ``extra``.
        extra = self.__dict__.get("extra", {})
        if key in extra:
            return extra[key]
        raise AttributeError(key)

    def describe(self) -> str:
        """Return a one-paragraph human summary of the run's settings."""
        knobs = {k: v for k, v in asdict(self).items() if k not in ("extra", "device", "output_dir")}
        knobs.update(self.extra)
        text = ", ".join(f"{k}={v}" for k, v in knobs.items())
        return f"{text}\ndevice={self.device}, outputs -> {self.output_dir}"


def start(
    name: str,
    *,
    profile: str = "cpu",
    dataset: str = "phantom",
    data_root: str | None = None,
    image_size: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    seed: int = 0,
    output_dir: str | None = None,
    defaults: dict[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> NotebookRun:
    """Resolve a notebook's knobs against its per-profile ``defaults``, seed everything, make output_dir.

    ``defaults`` maps each profile to the values of knobs left ``None``, e.g.
    ``{"smoke": {"steps": 50}, "cpu": {"steps": 2000}, "gpu": {"steps": 20000}}``.
    Extra keyword arguments are notebook-specific knobs; ``None`` ones take
    the profile default too.
    """
    check_profile(profile)
    table = (defaults or {}).get(profile, {})
    given = {"image_size": image_size, "steps": steps, "batch_size": batch_size, **extra}
    resolved = {k: (table.get(k) if v is None else v) for k, v in given.items()}
    for key, value in table.items():
        resolved.setdefault(key, value)
    seed = int(seed)
    seed_everything(seed)
    out = Path(output_dir) if output_dir else project_root() / "runs" / profile / name
    out.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(
        name=name,
        profile=profile,
        dataset=dataset,
        data_root=data_root,
        image_size=resolved.pop("image_size"),
        steps=resolved.pop("steps"),
        batch_size=resolved.pop("batch_size"),
        device=pick_device(device),
        seed=seed,
        output_dir=out,
        extra=resolved,
    )
    return run


def _jsonable(value: Any) -> Any:
    """Convert tensors, numpy scalars/arrays and paths into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.detach().cpu().tolist())
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    return value


def write_metrics(run: NotebookRun, metrics: dict[str, Any], headline: list[str] | None = None) -> Path:
    """Write ``metrics.json`` atomically into the run's output_dir and return its path.

    ``headline`` names the few keys the ``make notebooks`` summary table shows.
    """
    payload = {
        "notebook": run.name,
        "profile": run.profile,
        "dataset": run.dataset,
        "seed": run.seed,
        "device": str(run.device),
        "headline": list(headline or []),
        **_jsonable(metrics),
    }
    path = run.output_dir / "metrics.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False))
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------
# Headless execution of the whole course (make notebooks)
# ----------------------------------------------------------------------------

def list_notebooks(root: Path | None = None, only: list[str] | None = None) -> list[Path]:
    """Return the course notebooks in order, optionally only those whose name starts with one of ``only``."""
    folder = (root or project_root()) / "notebooks"
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if any(p.name.startswith(prefix) for prefix in only)]
    return books


def execute_notebook(
    notebook: Path,
    out_root: Path,
    profile: str,
    parameters: dict[str, Any] | None = None,
    kernel_name: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Execute one notebook with papermill into ``out_root`` and return a summary row.

    The executed copy goes to ``out_root/<name>.ipynb`` and the notebook's own
    outputs (``metrics.json``, figures, checkpoints) to ``out_root/<name>/``.
    """
    import papermill as pm

    check_profile(profile)
    out_root.mkdir(parents=True, exist_ok=True)
    stem = notebook.stem
    params = {"profile": profile, "output_dir": str((out_root / stem).resolve())}
    params.update({k: v for k, v in (parameters or {}).items() if v is not None})
    row: dict[str, Any] = {"notebook": stem, "status": "ok", "seconds": 0.0, "error": None}
    # Prefer the kernel spec of the environment we run in (e.g. .venv) over a user-wide
    # "python3" spec that may point at another Python without medgan_nb installed.
    own_specs = str(Path(sys.prefix) / "share" / "jupyter")
    if own_specs not in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (own_specs, os.environ.get("JUPYTER_PATH")) if p)
    metrics_path = out_root / stem / "metrics.json"
    metrics_path.unlink(missing_ok=True)  # never report a previous run's figures as this run's
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(out_root / notebook.name),
            parameters=params,
            kernel_name=kernel_name or "python3",
            cwd=str(notebook.parent),
            progress_bar=progress,
            log_output=False,
            execution_timeout=CELL_TIMEOUT_SECONDS[profile],
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        row["status"] = "FAILED"
        row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["metrics"] = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if row["status"] == "ok" and not row["metrics"]:
        row["status"] = "no metrics"
    return row


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Return a plain-text table: notebook, status, wall time, headline metrics."""
    lines = [f"{'notebook':<32} {'status':<10} {'time':>8}  headline metrics", "-" * 96]
    for row in rows:
        metrics = row.get("metrics", {})
        keys = metrics.get("headline") or []
        head = ", ".join(f"{k}={_format_value(metrics[k])}" for k in keys if k in metrics)
        if row.get("error"):
            head = row["error"][:120]
        lines.append(f"{row['notebook']:<32} {row['status']:<10} {row['seconds']:>7.1f}s  {head}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: execute the course notebooks and print a summary table."""
    parser = argparse.ArgumentParser(description="Execute the medgan-notebooks course with papermill.")
    parser.add_argument("--profile", default="cpu", help="smoke | cpu | gpu (default: cpu)")
    parser.add_argument("--dataset", default=None, help="phantom | dermamnist | ham10000 | isic-seg | folder")
    parser.add_argument("--data-root", default=None, help="folder holding the dataset files")
    parser.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 00 02")
    parser.add_argument("--out", default=None, help="output folder (default: runs/<profile>)")
    args = parser.parse_args(argv)
    try:
        check_profile(args.profile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    root = project_root()
    books = list_notebooks(root, args.only)
    if not books:
        print(f"error: no notebooks matched in {root / 'notebooks'}", file=sys.stderr)
        return 2
    out_root = Path(args.out) if args.out else root / "runs" / args.profile
    params = {"dataset": args.dataset, "data_root": args.data_root}
    rows = []
    for book in books:
        print(f"[{len(rows) + 1}/{len(books)}] {book.name} (profile={args.profile}) ...", flush=True)
        row = execute_notebook(book, out_root, args.profile, params)
        print(f"    {row['status']} in {row['seconds']:.1f}s", flush=True)
        rows.append(row)
    print()
    print(summary_table(rows))
    print(f"\nExecuted notebooks and metrics.json files are in {out_root}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
