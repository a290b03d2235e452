"""Notebooks on real datasets' file layouts, end to end: the same knobs a user sets for HAM10000 or DermaMNIST.

Every other notebook test renders the phantom in memory (``dataset="phantom"``),
so the loaders' real-file paths (metadata CSV, JPEG decoding, masks, MedMNIST's
npz and its own splits) would run only in unit tests. Here the phantom is first
written to disk in the real layouts by :func:`medgan_nb.data.export.export_phantoms`
-- HAM10000 (``HAM10000_metadata.csv``, JPEGs in two part folders, lesion masks)
and DermaMNIST (one ``dermamnist_64.npz``) -- and notebooks 02, 03, 05, 06, 07, 08 and 09
(HAM10000) and 04 (DermaMNIST) are executed under the smoke profile through
``dataset``/``data_root``, as ``make notebooks DATASET=ham10000 DATA_ROOT=...``
would. Their ``metrics.json`` is checked against ``tests/baselines/smoke-<dataset>.json``
(``make baselines DATASET=ham10000 DATA_ROOT=<export> ONLY="02 03 05"`` records it), and their printed
verdicts against their numbers (``tests/verdict_rules.py``), on the exports and on the phantom.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_folder
from verdict_rules import printed_lines, verdict_contradictions

from medgan_nb.tools.baselines import baselines_path, check_metrics, load_baselines
from medgan_nb.tools.runner import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
# layout -> export options: enough images for every split the notebooks draw, small files (the loaders resize anyway)
EXPORTS = {
    "ham10000": dict(n=500, size=(200, 150), render_size=96),
    "dermamnist": dict(n=700, size=64),
}
# the zoo's three discriminator kinds (batch norm, a critic without it, spectral norm): the loaders and every verdict
# of notebook 03 run as with all six losses, for half its smoke time; the six are bounded on the phantom
RUN_OPTIONS = {"03_loss_zoo": {"losses": "dcgan,wgan-gp,hinge-sn"}}
RUNS = [("02_dcgan_skin_lesions", "ham10000"), ("03_loss_zoo", "ham10000"), ("05_style_and_growth", "ham10000"),
        ("06_masks_and_translation", "ham10000"), ("07_evaluation", "ham10000"),
        ("08_responsible_synthetic_data", "ham10000"), ("09_choosing_a_generator", "ham10000"),
        ("04_conditional_generation", "dermamnist")]


def exported(layout: str, folder: Path) -> Path:
    """Return the phantom exported in ``layout`` under ``folder``, writing it first unless a worker already did."""
    from filelock import FileLock

    from medgan_nb.data.export import export_phantoms

    root = folder / f"exported-{layout}"
    with FileLock(str(folder / f"exported-{layout}.lock")):
        if not root.is_dir():  # export_phantoms moves a finished folder into place: it exists only when complete
            export_phantoms(root, layout, seed=11, progress=False, **EXPORTS[layout])
    return root


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("stem, layout", RUNS, ids=[f"{stem[:2]}-{layout}" for stem, layout in RUNS])
def test_notebook_on_a_real_file_layout_meets_its_baselines(stem, layout, tmp_path_factory, request):
    folder = shared_folder(tmp_path_factory, request)
    data_root = exported(layout, folder)
    out = folder / f"real_format_runs-{layout}"
    row = execute_notebook(ROOT / "notebooks" / f"{stem}.ipynb", out, "smoke",
                           {"dataset": layout, "data_root": str(data_root), **RUN_OPTIONS.get(stem, {})})
    (out / f"{stem}.row.json").write_text(json.dumps(row, default=str))
    assert row["status"] == "ok", f"{stem} on an exported {layout}: {row['error']}\n{row.get('traceback_tail', '')}"
    metrics = row["metrics"]
    assert metrics["dataset"] == layout, "the notebook must have run on the exported files, not on the phantom"
    failures = check_metrics(stem, metrics, load_baselines(baselines_path("smoke", dataset=layout)))
    assert not failures, "\n".join(failures)
    contradictions = verdict_contradictions(stem, metrics, printed_lines(out / f"{stem}.ipynb"))
    assert not contradictions, "\n".join(contradictions)


@pytest.mark.notebook
@pytest.mark.parametrize("stem", sorted({stem for stem, _ in RUNS}))
def test_printed_verdicts_agree_with_their_numbers_on_the_phantom(stem, notebook_runs):
    metrics = notebook_runs(stem)
    executed = Path(metrics["_output_dir"]).parent / f"{stem}.ipynb"
    contradictions = verdict_contradictions(stem, metrics, printed_lines(executed))
    assert not contradictions, "\n".join(contradictions)
