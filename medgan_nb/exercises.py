"""Automatic checks for the notebooks' exercises.

Each code exercise in a notebook is a solution cell (the reference answer between
``### BEGIN SOLUTION`` / ``### END SOLUTION``, which ``make student`` replaces with
``raise NotImplementedError``) followed by a *check cell*. A check cell calls the
student's function on inputs the exercise did not show and compares the answer with
the kit's own implementation or a known answer, through the functions below. When a
check fails it raises :class:`ExerciseCheckFailed` (an ``AssertionError``) whose
message says what was expected, what came, and a hint, so the student sees more
than a bare ``AssertionError``.

Plain functions rather than a grading framework: nbgrader (which instructors use to
grade) only needs the check cell to raise on a wrong answer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ExerciseCheckFailed", "attempt", "check_close", "check_equal", "check_shape", "check_true", "passed"]


class ExerciseCheckFailed(AssertionError):
    """A check cell found a wrong answer; the message says what was expected and gives a hint."""


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _fail(exercise: str, what: str, expected: Any, got: Any, hint: str) -> None:
    message = f"{exercise}: {what}\n  expected: {expected}\n  got:      {got}"
    if hint:
        message += f"\n  hint: {hint}"
    raise ExerciseCheckFailed(message)


def _short(value: Any) -> str:
    text = np.array2string(_as_array(value), precision=4, threshold=8) if not isinstance(value, str) else value
    return text if len(text) < 200 else text[:197] + "..."


def check_close(exercise: str, got: Any, expected: Any, *, what: str = "the value is wrong",
                hint: str = "", rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Return None when ``got`` equals ``expected`` within tolerance (numbers, arrays or tensors), else raise."""
    if got is None:
        _fail(exercise, "your function returned None (did you forget `return`?)", _short(expected), "None", hint)
    got_array, expected_array = _as_array(got), _as_array(expected)
    if got_array.shape != expected_array.shape:
        _fail(exercise, "the shape is wrong", expected_array.shape, got_array.shape, hint)
    if not np.all(np.isfinite(got_array)):
        _fail(exercise, "the answer holds NaN or infinity", _short(expected), _short(got), hint)
    if not np.allclose(got_array, expected_array, rtol=rtol, atol=atol):
        _fail(exercise, what, _short(expected), _short(got), hint)


def check_equal(exercise: str, got: Any, expected: Any, *, what: str = "the answer is wrong", hint: str = "") -> None:
    """Return None when ``got == expected`` (exact, for labels, names, counts), else raise."""
    if got != expected:
        _fail(exercise, what, expected, got, hint)


def check_shape(exercise: str, got: Any, expected_shape: tuple, *, hint: str = "") -> None:
    """Return None when ``got`` (an array or tensor) has ``expected_shape``, else raise."""
    shape = tuple(getattr(got, "shape", np.shape(got)))
    if shape != tuple(expected_shape):
        _fail(exercise, "the shape is wrong", tuple(expected_shape), shape, hint)


def check_true(exercise: str, condition: bool, *, what: str, expected: Any = "True", got: Any = "False",
               hint: str = "") -> None:
    """Return None when ``condition`` holds, else raise with ``what`` (a sentence) and the hint."""
    if not condition:
        _fail(exercise, what, expected, got, hint)


def attempt(exercise: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Return ``function(*args, **kwargs)``; a stub that still raises NotImplementedError fails the check helpfully."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseCheckFailed(
            f"{exercise}: not answered yet: `{getattr(function, '__name__', 'the function')}` still raises "
            "NotImplementedError.\n  hint: replace the `raise NotImplementedError()` line in the cell above with "
            "your code, run that cell, then run this check again.") from None


def passed(exercise: str) -> None:
    """Print the line a check cell ends with when every check passed."""
    print(f"{exercise}: all checks passed.")
