"""Exercises and the two editions: every notebook follows the exercise convention; the student edition carries no
solutions, no outputs, every check cell, and each check fails on the stub with the 'not answered yet' message.

The instructor edition runs top to bottom under papermill in test_notebooks_execute.py (every check passes there);
here each exercise also runs on its own (solution cell, then check cell, in a fresh namespace), which is fast and
names the exercise that breaks.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from medgan_nb.tools import course
from medgan_nb.exercises import ExerciseCheckFailed

NOTEBOOKS = course.course_notebooks()
MARKER = re.compile(r"BEGIN SOLUTION|END SOLUTION")


def _read(path):
    return nbformat.read(str(path), as_version=4)


def _grade_id(cell) -> str:
    return cell.metadata["nbgrader"]["grade_id"]


def _solution_lines(cell) -> list[str]:
    """Return the stripped, non-empty lines between the solution markers of an instructor's solution cell."""
    lines = [line.strip() for line in cell.source.splitlines()]
    inside = lines[lines.index(course.BEGIN_SOLUTION) + 1: lines.index(course.END_SOLUTION)]
    return [line for line in inside if line and not line.startswith("#")]


def _run_exercise(solution_source: str, check_source: str) -> dict:
    """Execute a solution cell, then its check cell, in one fresh namespace; return the namespace."""
    namespace: dict = {"__name__": "__exercise__"}
    exec(compile(solution_source, "<solution cell>", "exec"), namespace)
    exec(compile(check_source, "<check cell>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def editions():
    """Return {stem: (instructor notebook, student notebook)} for every notebook in notebooks/."""
    return {path.stem: (_read(path), course.student_edition(_read(path))) for path in NOTEBOOKS}


def _pairs(stem: str) -> list[tuple[str, str]]:
    """Return (notebook stem, solution grade_id) for each code exercise of a notebook (for parametrize)."""
    nb = _read(next(p for p in NOTEBOOKS if p.stem == stem))
    return [(stem, _grade_id(solution)) for solution, _ in course.exercise_pairs(nb)]


EXERCISES = [pair for path in NOTEBOOKS for pair in _pairs(path.stem)]


def _pair(nb, solution_id: str):
    return next((s, c) for s, c in course.exercise_pairs(nb) if _grade_id(s) == solution_id)


# ---------------------------------------------------------------------------------------------- every notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_exercise_convention(path):
    nb = _read(path)
    assert course.problems(nb, path.name) == []
    assert len(course.check_cells(nb)) >= 2, "at least two code exercises with a graded check cell"
    assert len(course.answer_cells(nb)) >= 1, "at least one open question with an answer cell"
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids)), f"duplicate grade_ids in {path.name}: {grade_ids}"
    for solution in course.solution_cells(nb):
        assert _solution_lines(solution), f"{_grade_id(solution)}: nothing between the solution markers"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbgrader_accepts_the_metadata(path):
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(_read(path))  # raises nbgrader's ValidationError on bad metadata


# ---------------------------------------------------------------------------------------------- student edition
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_is_valid_and_cleared(editions, path):
    _, student = editions[path.stem]
    nbformat.validate(student)
    dirty = [c.id for c in student.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} keep outputs in the student edition"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_carries_no_solution_text(editions, path):
    instructor, student = editions[path.stem]
    student_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    assert not any(MARKER.search(cell.source) for cell in student.cells), "a solution marker survived"
    for solution in course.solution_cells(instructor):
        leaked = [line for line in _solution_lines(solution) if line in student_lines]
        assert not leaked, f"{_grade_id(solution)}: reference lines survive in the student edition: {leaked}"
    student_text = "\n".join(cell.source for cell in student.cells)
    for answer in course.answer_cells(instructor):
        assert answer.source[:80] not in student_text, f"{_grade_id(answer)}: the model answer survives"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_edition_keeps_every_check_cell_locked(editions, path):
    instructor, student = editions[path.stem]
    kept = {_grade_id(c): c for c in course.check_cells(student)}
    for check in course.check_cells(instructor):
        assert _grade_id(check) in kept, f"check cell {_grade_id(check)} is missing from the student edition"
        assert kept[_grade_id(check)].source == check.source, f"check cell {_grade_id(check)} changed"
        assert kept[_grade_id(check)].metadata.get("editable") is False


@pytest.mark.parametrize("stem, solution_id", EXERCISES)
def test_student_stub_fails_its_check_with_the_not_answered_message(editions, stem, solution_id):
    _, student = editions[stem]
    solution, check = _pair(student, solution_id)
    assert "raise NotImplementedError()" in solution.source
    with pytest.raises(ExerciseCheckFailed, match="not answered yet") as caught:
        _run_exercise(solution.source, check.source)
    assert "hint: replace the `raise NotImplementedError()` line" in str(caught.value)


@pytest.mark.parametrize("stem, solution_id", EXERCISES)
def test_instructor_solution_passes_its_check(editions, stem, solution_id, capsys):
    instructor, _ = editions[stem]
    solution, check = _pair(instructor, solution_id)
    _run_exercise(solution.source, check.source)
    assert "all checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("stem, solution_id", EXERCISES)
def test_check_fails_on_a_wrong_answer(editions, stem, solution_id):
    instructor, _ = editions[stem]
    solution, check = _pair(instructor, solution_id)
    lines = solution.source.splitlines()
    begin, end = lines.index(next(l for l in lines if l.strip() == course.BEGIN_SOLUTION)), \
        lines.index(next(l for l in lines if l.strip() == course.END_SOLUTION))
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    wrong = "\n".join(lines[:begin] + [indent + "return None"] + lines[end + 1:])  # a function that answers nothing
    with pytest.raises(ExerciseCheckFailed, match=r"expected|returned None"):
        _run_exercise(wrong, check.source)


def test_make_student_writes_every_notebook(tmp_path):
    assert course.main(["student", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS]
    for path in tmp_path.glob("*.ipynb"):
        nb = _read(path)
        assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code")
        assert course.solution_cells(nb) and all("raise NotImplementedError()" in c.source for c in course.solution_cells(nb))


# ---------------------------------------------------------------------------------------------- the checker itself
def _exercise_notebook(solution_source: str, check_source: str, grade_ids=("t-ex1-solution", "t-ex1-check")):
    """Return a small notebook with one code exercise in the convention (or a broken variant of it)."""
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell(solution_source)
    solution.metadata["nbgrader"] = {"grade": False, "grade_id": grade_ids[0], "locked": False, "schema_version": 3,
                                     "solution": True, "task": False}
    check = nbformat.v4.new_code_cell(check_source)
    check.metadata["nbgrader"] = {"grade": True, "grade_id": grade_ids[1], "locked": True, "points": 1,
                                  "schema_version": 3, "solution": False, "task": False}
    nb.cells = [solution, check]
    return nb


GOOD_SOLUTION = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
GOOD_CHECK = "got = attempt('Exercise 1', f, 3)"


def test_problems_name_too_few_exercises_and_no_open_question():
    found = course.problems(_exercise_notebook(GOOD_SOLUTION, GOOD_CHECK), "t.ipynb")
    assert any("1 graded check cells, expected at least 2" in p for p in found), found
    assert any("0 open-question answer cells" in p for p in found), found


def test_problems_name_missing_markers_duplicate_ids_and_checks_without_attempt():
    broken = _exercise_notebook("def f(x):\n    return 2 * x", "assert f(3) == 6", grade_ids=("t-ex1", "t-ex1"))
    found = course.problems(broken, "t.ipynb")
    assert any("needs one '### BEGIN SOLUTION' line" in p for p in found), found
    assert any("grade_id ['t-ex1'] used by more than one cell" in p for p in found), found
    assert any("does not call the student's function through attempt" in p for p in found), found


def test_problems_name_marker_text_outside_a_solution_cell():
    nb = _exercise_notebook(GOOD_SOLUTION, GOOD_CHECK)
    nb.cells.append(nbformat.v4.new_markdown_cell("Answers sit between `### BEGIN SOLUTION` lines."))
    assert any("spells a solution marker but is not a solution cell" in p for p in course.problems(nb, "t.ipynb"))


def test_student_edition_without_nbgrader_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nbgrader.preprocessors", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"made by nbgrader, which is not installed .*make setup"):
        course.student_edition(_exercise_notebook(GOOD_SOLUTION, GOOD_CHECK))
