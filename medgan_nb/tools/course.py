r"""The course's two editions of every notebook: the instructor's (``notebooks/``) and the student's (``dist/student/``).

Every notebook ends with exercises in one convention, nbgrader's. A code exercise is a
*solution cell*, whose reference answer lies between two marker lines,

.. code-block:: python

    def d_star(p_data, p_g):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

followed by a *check cell* that calls the function on new inputs through
:mod:`medgan_nb.exercises`. An open question is a markdown *answer cell* holding a model
answer. Each such cell carries nbgrader metadata (``grade``, ``solution``, ``locked``,
``points``, a unique ``grade_id``), so instructors can run nbgrader on ``notebooks/`` as it is.

The student edition is the instructor edition passed through nbgrader's own
preprocessors, in the order ``nbgrader generate_assignment`` applies them:

.. math::

    \text{student} = \text{CheckCellMetadata} \circ \text{ComputeChecksums} \circ \text{ClearMarkScheme}
    \circ \text{ClearHiddenTests} \circ \text{ComputeChecksums} \circ \text{CheckCellMetadata}
    \circ \text{ClearOutput} \circ \text{ClearSolutions} \circ \text{LockCells}\,(\text{instructor})

``ClearSolutions`` replaces each marked region by ``raise NotImplementedError()`` and each
answer cell by "YOUR ANSWER HERE"; :func:`medgan_nb.exercises.attempt` turns the stub's
error into a check failure that tells the student what to do. Three steps of
``generate_assignment`` are left out because they need an nbgrader course directory:
``IncludeHeaderFooter`` (a header notebook file), ``InstantiateTests`` (autotest templates,
which these notebooks do not use) and ``SaveCells`` (nbgrader's gradebook database). None of
them changes a cell here, so the result is what ``nbgrader generate_assignment`` releases.

Command line (``make student``)::

    python -m medgan_nb.tools.course student [--out dist/student]   # write the student edition of every notebook
    python -m medgan_nb.tools.course check                          # list notebooks that break the exercise convention
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

from ..runtime import project_root

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
MIN_CHECK_CELLS = 2  # at least two code exercises with an automatic check (EXERCISES.md)
MIN_ANSWER_CELLS = 1  # at least one open question on medical use
NBGRADER_KEYS = ("grade", "grade_id", "locked", "schema_version", "solution", "task")


def _nbgrader(cell: Any) -> dict[str, Any]:
    """Return the cell's nbgrader metadata ({} when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def solution_cells(nb: Any) -> list[Any]:
    """Return the code cells marked as solutions (nbgrader ``solution: true``)."""
    return [c for c in nb.cells if c.cell_type == "code" and _nbgrader(c).get("solution")]


def check_cells(nb: Any) -> list[Any]:
    """Return the graded code cells: the automatic checks (nbgrader ``grade: true``, not a solution)."""
    return [c for c in nb.cells if c.cell_type == "code" and _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")]


def answer_cells(nb: Any) -> list[Any]:
    """Return the markdown cells that hold an answer to an open question (nbgrader ``grade`` and ``solution``)."""
    return [c for c in nb.cells if c.cell_type == "markdown" and _nbgrader(c).get("grade") and _nbgrader(c).get("solution")]


def exercise_pairs(nb: Any) -> list[tuple[Any, Any]]:
    """Return (solution cell, check cell) for each code exercise: a solution cell and the next code cell after it."""
    pairs = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and _nbgrader(cell).get("solution"):
            following = next((c for c in nb.cells[index + 1:] if c.cell_type == "code"), None)
            pairs.append((cell, following))
    return pairs


def problems(nb: Any, name: str = "notebook") -> list[str]:
    """Return a sentence for each way ``nb`` breaks the exercise convention (empty when it follows it)."""
    found = []
    graded = [c for c in nb.cells if _nbgrader(c)]
    ids = [_nbgrader(c).get("grade_id") for c in graded]
    for cell in graded:
        meta = _nbgrader(cell)
        missing = [key for key in NBGRADER_KEYS if key not in meta]
        if missing:
            found.append(f"{name}: cell {cell.get('id')!r} has nbgrader metadata without {missing}; "
                         "copy the metadata block of EXERCISES.md")
        if meta.get("grade") and "points" not in meta:
            found.append(f"{name}: graded cell {meta.get('grade_id')!r} has no 'points'; add \"points\": 1")
    duplicates = sorted({i for i in ids if ids.count(i) > 1 and i is not None})
    if duplicates:
        found.append(f"{name}: grade_id {duplicates} used by more than one cell; nbgrader needs each grade_id once "
                     "(use ids like 'nb03-ex1-solution')")
    checks, answers = check_cells(nb), answer_cells(nb)
    if len(checks) < MIN_CHECK_CELLS:
        found.append(f"{name}: {len(checks)} graded check cells, expected at least {MIN_CHECK_CELLS} "
                     "(one after each code exercise's solution cell)")
    if len(answers) < MIN_ANSWER_CELLS:
        found.append(f"{name}: {len(answers)} open-question answer cells, expected at least {MIN_ANSWER_CELLS} "
                     "(a markdown cell with grade and solution set, holding a model answer)")
    for cell in nb.cells:  # nbgrader's ClearSolutions refuses marker lines outside solution cells
        if not _nbgrader(cell).get("solution") and ("BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source):
            found.append(f"{name}: cell {cell.get('id')!r} spells a solution marker but is not a solution cell; "
                         "reword it (nbgrader would stop there) or mark the cell as a solution")
    for solution, check in exercise_pairs(nb):
        grade_id = _nbgrader(solution).get("grade_id")
        lines = [line.strip() for line in solution.source.splitlines()]
        if lines.count(BEGIN_SOLUTION) != 1 or lines.count(END_SOLUTION) != 1 or \
                lines.index(BEGIN_SOLUTION) > lines.index(END_SOLUTION):
            found.append(f"{name}: solution cell {grade_id!r} needs one '{BEGIN_SOLUTION}' line and, after it, one "
                         f"'{END_SOLUTION}' line around the reference answer")
        if check is None or check not in checks:
            found.append(f"{name}: solution cell {grade_id!r} is not followed by a graded check cell")
        elif "attempt(" not in check.source:
            found.append(f"{name}: check cell {_nbgrader(check).get('grade_id')!r} does not call the student's function "
                         "through attempt(...), so an unanswered stub fails without saying what to do")
    return found


def _student_preprocessors() -> list[Any]:
    """Return nbgrader's preprocessors in generate_assignment's order, less those that need a course directory."""
    try:
        from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                            ClearSolutions, ComputeChecksums, LockCells)
    except ImportError as error:  # nbgrader is in requirements.txt and the 'course' extra, not in the Colab install
        raise ImportError(f"the student edition is made by nbgrader, which is not installed ({error}); "
                          "run `make setup` or `pip install nbgrader`") from None
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def student_edition(nb: Any) -> Any:
    """Return a copy of the instructor notebook ``nb`` with solutions stubbed, answers blanked and outputs cleared."""
    student = copy.deepcopy(nb)
    resources: dict[str, Any] = {}
    for preprocessor in _student_preprocessors():
        student, resources = preprocessor.preprocess(student, resources)
    return student


def write_student_edition(notebooks: list[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of each notebook into ``out_dir`` (same file names); return the paths written."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        student = student_edition(nb)
        nbformat.validate(student)
        target = out_dir / path.name
        nbformat.write(student, str(target))
        written.append(target)
    return written


def course_notebooks(folder: Path | None = None) -> list[Path]:
    """Return the course notebooks (``NN_name.ipynb``) of ``folder`` (default: the project's notebooks/), in order."""
    return sorted(Path(folder or project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``student`` writes the student edition, ``check`` lists convention problems; 0 on success."""
    import nbformat

    parser = argparse.ArgumentParser(description="The course's instructor and student editions.")
    parser.add_argument("command", choices=["student", "check"],
                        help="student: write the student edition; check: list exercise-convention problems")
    parser.add_argument("--out", default=None, help="output folder of `student` (default: dist/student)")
    args = parser.parse_args(argv)
    books = course_notebooks()
    if not books:
        print(f"error: no notebooks in {project_root() / 'notebooks'}", file=sys.stderr)
        return 2
    found = [p for book in books for p in problems(nbformat.read(str(book), as_version=4), book.name)]
    if args.command == "check" or found:
        print("\n".join(found) if found else f"{len(books)} notebooks follow the exercise convention")
        return 1 if found else 0
    out_dir = Path(args.out) if args.out else project_root() / "dist" / "student"
    written = write_student_edition(books, out_dir)
    print(f"student edition of {len(written)} notebooks written to {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
