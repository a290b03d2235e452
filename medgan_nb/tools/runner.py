"""The papermill runner: execute the course notebooks headlessly and summarise them (``make notebooks``).

    python -m medgan_nb.tools.runner --profile cpu [--dataset phantom] [--only 02]

It also writes ``runs/<profile>/summary.md`` (a table: notebook, status, wall time,
headline metrics; then each failure's cell and the end of its traceback) and
``summary.json`` (the same rows), and exits non-zero if a notebook failed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..notebook import jsonable
from ..runtime import check_profile, project_root

# Longest a single cell may run headlessly before papermill stops it, so a cell that hangs
# (e.g. a widget waiting for a frontend) fails the run with a clear error instead of stalling CI.
CELL_TIMEOUT_SECONDS = {"smoke": 600, "cpu": 3600, "gpu": None}


# ----------------------------------------------------------------------------
# Headless execution of the whole course (make notebooks)
# ----------------------------------------------------------------------------

def list_notebooks(root: Path | None = None, only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Return the course notebooks in order, optionally only those whose name starts with one of ``only``.

    They are looked up in ``folder`` if given, else in ``<root>/notebooks``.
    """
    folder = Path(folder) if folder is not None else (root or project_root()) / "notebooks"
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if any(p.name.startswith(prefix) for prefix in only)]
    return books


TRACEBACK_TAIL_LINES = 12
CELL_HEAD_LINES = 4


def _socket_kernel_manager(socket_dir: str):
    """Return a kernel manager class whose kernel talks over Unix sockets in ``socket_dir`` instead of TCP ports.

    jupyter_client picks a kernel's five TCP ports by asking the system for free ones and releasing them before the
    kernel binds them, so two kernels starting at the same moment (two test workers, two notebooks run side by side)
    can pick the same port and one dies with "Address already in use". Sockets in a folder of the run's own cannot
    collide. The class is written here because jupyter_client offers the transport but no ready-made manager for it.
    """
    from jupyter_client.manager import AsyncKernelManager

    class SocketKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**{"transport": "ipc", "ip": os.path.join(socket_dir, "kernel"), **kwargs})

    return SocketKernelManager


def execute_notebook(
    notebook: Path,
    out_root: Path,
    profile: str,
    parameters: dict[str, Any] | None = None,
    kernel_name: str | None = None,
    progress: bool = False,
    log_output: bool = False,
) -> dict[str, Any]:
    """Execute one notebook with papermill into ``out_root`` and return a summary row.

    The executed copy goes to ``out_root/<name>.ipynb`` and the notebook's own
    outputs (``metrics.json``, figures, checkpoints) to ``out_root/<name>/``.
    A failed run's row also holds ``failed_cell`` (its index in the notebook
    file, execution count and first lines) and ``traceback_tail``. A relative
    ``data_root`` is taken from the caller's working folder, not the notebook's.
    """
    import papermill as pm
    from papermill.exceptions import strip_color  # IPython colours its tracebacks

    check_profile(profile)
    out_root.mkdir(parents=True, exist_ok=True)
    stem = notebook.stem
    params = {"profile": profile, "output_dir": str((out_root / stem).resolve())}
    params.update({k: v for k, v in (parameters or {}).items() if v is not None})
    if params.get("data_root"):  # the kernel runs in the notebook's folder: a relative path means the caller's folder
        params["data_root"] = str(Path(params["data_root"]).expanduser().resolve())
    row: dict[str, Any] = {"notebook": stem, "status": "ok", "seconds": 0.0, "error": None}
    # Prefer the kernel spec of the environment we run in (e.g. .venv) over a user-wide
    # "python3" spec that may point at another Python without medgan_nb installed.
    own_specs = str(Path(sys.prefix) / "share" / "jupyter")
    if own_specs not in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (own_specs, os.environ.get("JUPYTER_PATH")) if p)
    metrics_path = out_root / stem / "metrics.json"
    metrics_path.unlink(missing_ok=True)  # never report a previous run's figures as this run's
    t0 = time.perf_counter()
    sockets = tempfile.TemporaryDirectory(prefix="medgan-kernel-") if os.name == "posix" else None
    try:
        pm.execute_notebook(
            str(notebook),
            str(out_root / notebook.name),
            parameters=params,
            kernel_name=kernel_name or "python3",
            cwd=str(notebook.parent),
            progress_bar=progress,
            log_output=log_output,  # stream the cells' output to this process's log (long GPU runs)
            execution_timeout=CELL_TIMEOUT_SECONDS[profile],
            **({"kernel_manager_class": _socket_kernel_manager(sockets.name)} if sockets else {}),
        )
    except pm.PapermillExecutionError as exc:  # an exception inside a cell: say which cell and why
        row["status"] = "FAILED"
        row["error"] = f"{exc.ename}: {exc.evalue}".strip().rstrip(":")
        row["failed_cell"] = _failed_cell(notebook, exc)
        row["traceback_tail"] = _tail(strip_color("\n".join(exc.traceback or [])), TRACEBACK_TAIL_LINES)
    except Exception as exc:  # e.g. a cell timeout or a kernel that died
        text = str(exc).strip()
        row["status"] = "FAILED"
        row["error"] = f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}"
        row["traceback_tail"] = _tail(strip_color(text), TRACEBACK_TAIL_LINES)
    finally:
        if sockets is not None:
            sockets.cleanup()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["metrics"] = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    if row["status"] == "ok" and not row["metrics"]:
        row["status"] = "no metrics"
    return row


def _tail(text: str, lines: int) -> str:
    """Return the last ``lines`` non-empty lines of ``text``."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _failed_cell(notebook: Path, exc: Any) -> dict[str, Any]:
    """Return where a papermill failure happened: the cell's index in ``notebook``, its execution count and first lines."""
    import nbformat

    source = exc.source if isinstance(exc.source, str) else "".join(exc.source or [])
    # papermill's index counts the cell of injected parameters; find the cell in the file by its source instead.
    index = exc.cell_index
    try:
        cells = nbformat.read(str(notebook), as_version=4).cells
        matches = [i for i, cell in enumerate(cells) if cell.source == source]
        if matches:
            index = min(matches, key=lambda i: abs(i - exc.cell_index))
    except Exception:  # an unreadable file keeps papermill's index
        pass
    head = source.strip("\n").splitlines()[:CELL_HEAD_LINES]
    return {"index": index, "execution_count": exc.exec_count, "source_head": "\n".join(head)}


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _headline(row: dict[str, Any]) -> str:
    """Return ``key=value`` for the row's headline metrics."""
    metrics = row.get("metrics") or {}
    return ", ".join(f"{k}={_format_value(metrics[k])}" for k in metrics.get("headline") or [] if k in metrics)


def _where(row: dict[str, Any]) -> str:
    """Return "cell index 7 (In [5])" (0-based index in the notebook file) for a failed row, or "" if none is known."""
    cell = row.get("failed_cell")
    if not cell:
        return ""
    count = f" (In [{cell['execution_count']}])" if cell.get("execution_count") is not None else ""
    return f"cell index {cell['index']}{count}"


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Return a plain-text table: notebook, status, wall time, headline metrics (or the error and its cell)."""
    lines = [f"{'notebook':<32} {'status':<10} {'time':>8}  headline metrics", "-" * 96]
    for row in rows:
        head = _headline(row)
        if row.get("error"):
            where = _where(row)
            head = (f"{where}: " if where else "") + row["error"][:120]
        lines.append(f"{row['notebook']:<32} {row['status']:<10} {row['seconds']:>7.1f}s  {head}")
    return "\n".join(lines)


def failure_report(rows: list[dict[str, Any]]) -> str:
    """Return, for each failed notebook, its failing cell's first lines and the end of the traceback."""
    parts = []
    for row in rows:
        if row["status"] != "FAILED":
            continue
        where = _where(row)
        parts.append(f"{row['notebook']} failed{' in ' + where if where else ''}: {row['error']}")
        if row.get("failed_cell"):
            parts.append(_indent(row["failed_cell"]["source_head"]))
        if row.get("traceback_tail"):
            parts.append("  traceback (end):\n" + _indent(row["traceback_tail"]))
    return "\n".join(parts)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _md_cell(text: str) -> str:
    """Return ``text`` safe for one cell of a markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(rows: list[dict[str, Any]], profile: str) -> str:
    """Return the run's summary as markdown: a table notebook x status x time x headline metrics, then the failures."""
    lines = [f"# Notebook run, profile `{profile}`", "", "| notebook | status | time (s) | headline metrics |",
             "|---|---|---:|---|"]
    for row in rows:
        detail = _headline(row)
        if row.get("error"):
            where = _where(row)
            detail = (f"{where}: " if where else "") + row["error"]
        lines.append(f"| {row['notebook']} | {row['status']} | {row['seconds']:.1f} | {_md_cell(detail)} |")
    failed = [row for row in rows if row["status"] == "FAILED"]
    if failed:
        lines += ["", "## Failures"]
    for row in failed:
        where = _where(row)
        lines += ["", f"### {row['notebook']}" + (f": {where}" if where else ""), "", f"`{_md_cell(row['error'])}`"]
        if row.get("failed_cell"):
            lines += ["", "The cell begins:", "", "```python", row["failed_cell"]["source_head"], "```"]
        if row.get("traceback_tail"):
            lines += ["", "End of the traceback:", "", "```", row["traceback_tail"], "```"]
    return "\n".join(lines) + "\n"


def write_summary(rows: list[dict[str, Any]], out_root: Path, profile: str) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.json`` (the rows) into ``out_root``; return both paths."""
    out_root.mkdir(parents=True, exist_ok=True)
    markdown, table = out_root / "summary.md", out_root / "summary.json"
    markdown.write_text(summary_markdown(rows, profile))
    table.write_text(json.dumps(jsonable(rows), indent=2))
    return markdown, table


def run_notebooks(
    profile: str,
    books: list[Path],
    out_root: Path,
    parameters: dict[str, Any] | None = None,
    log_output: bool = False,
) -> list[dict[str, Any]]:
    """Execute ``books`` one after another (a failure does not stop the others) and return their rows.

    The summary files are rewritten after every notebook, so a run that is stopped
    part-way (a time limit, a lost machine) keeps the rows of the notebooks it finished.
    """
    rows = []
    for book in books:
        print(f"[{len(rows) + 1}/{len(books)}] {book.name} (profile={profile}) ...", flush=True)
        row = execute_notebook(book, out_root, profile, parameters, log_output=log_output)
        print(f"    {row['status']} in {row['seconds']:.1f}s", flush=True)
        rows.append(row)
        write_summary(rows, out_root, profile)
    return rows


def build_parser(description: str) -> argparse.ArgumentParser:
    """Return the command-line options shared by ``medgan_nb.tools.runner`` and ``medgan_nb.tools.baselines``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="cpu", help="smoke | cpu | gpu (default: cpu)")
    parser.add_argument("--dataset", default=None, help="phantom | dermamnist | ham10000 | isic-seg | folder")
    parser.add_argument("--data-root", default=None, help="folder holding the dataset files")
    parser.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 00 02")
    parser.add_argument("--out", default=None, help="output folder (default: runs/<profile>)")
    parser.add_argument("--log-output", action="store_true", help="print every cell's output as it runs")
    # Where the notebooks are (default: <project>/notebooks); the tests point it at throwaway notebooks.
    parser.add_argument("--notebooks-dir", default=None, help=argparse.SUPPRESS)
    return parser


def execute_from_args(args: argparse.Namespace, parameters: dict[str, Any] | None = None,
                      out: Path | None = None) -> tuple[list[dict[str, Any]], Path] | None:
    """Execute the notebooks the parsed options select; return (rows, output folder), or None after printing why not.

    ``parameters`` are passed to every notebook besides the options' (e.g. a seed);
    ``out`` overrides the output folder.
    """
    try:
        check_profile(args.profile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    root = project_root()
    folder = Path(args.notebooks_dir) if args.notebooks_dir else root / "notebooks"
    books = list_notebooks(root, args.only, folder=folder)
    if not books:
        print(f"error: no notebooks matched in {folder}", file=sys.stderr)
        return None
    out_root = out or (Path(args.out) if args.out else root / "runs" / args.profile)
    params = {"dataset": args.dataset, "data_root": args.data_root, **(parameters or {})}
    return run_notebooks(args.profile, books, out_root, params, log_output=args.log_output), out_root


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: execute the course notebooks, print and write a summary; 1 if any notebook failed."""
    args = build_parser("Execute the medgan-notebooks course with papermill.").parse_args(argv)
    executed = execute_from_args(args)
    if executed is None:
        return 2
    rows, out_root = executed
    markdown, _ = write_summary(rows, out_root, args.profile)
    print()
    print(summary_table(rows))
    report = failure_report(rows)
    if report:
        print("\n" + report)
    print(f"\nExecuted notebooks and metrics.json files are in {out_root}; summary in {markdown}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
