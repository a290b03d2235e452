r"""Verdicts that decide with their uncertainty: a winner is named only when the gap exceeds its noise.

Every comparison a notebook prints ("A is closer to the real data than B", "the samples are recognised
above chance", "the attack's AUC fell") rests on a finite sample: a few dozen images, one training run.
The rule used throughout the kit is the usual two-standard-error one: two numbers differ clearly when

.. math::

    |a - b| > z \sqrt{s_a^2 + s_b^2}, \qquad z = 2,

with :math:`s_a, s_b` their standard errors (about a 95% two-sided level for independent, roughly normal
estimates). Otherwise the verdict says "no clear difference at this budget" instead of naming a winner.
A proportion :math:`\hat p` measured on :math:`n` items has the standard error
:math:`\sqrt{\hat p (1 - \hat p) / n}`; an interval :math:`[l, h]` from a bootstrap at about 95% gives
:math:`s \approx (h - l) / (2 \cdot 1.96)`.
"""
from __future__ import annotations

import math

NO_CLEAR_DIFFERENCE = "no clear difference at this budget"
Z = 2.0  # two standard errors


def proportion_se(p: float, n: int) -> float:
    """Return the standard error sqrt(p (1 - p) / n) of a proportion p measured on n items."""
    if n < 1:
        raise ValueError(f"a proportion needs at least one item, got n = {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a proportion lies in [0, 1], got {p}")
    return math.sqrt(p * (1 - p) / n)


def share_se(share: float, n: int) -> float:
    """Return :func:`proportion_se` of a measured share (an accuracy, a coverage), clipped to [0, 1] against round-off."""
    return proportion_se(min(max(float(share), 0.0), 1.0), n)


def mean_se(values) -> float:
    """Return the standard error of the mean of ``values`` (sample standard deviation / sqrt(n)); inf for n < 2."""
    import numpy as np

    values = np.asarray(values, dtype=float).reshape(-1)
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf


def interval_se(low: float, high: float, level: float = 0.95) -> float:
    """Return the standard error an interval [low, high] at ``level`` implies (normal approximation)."""
    if high < low:
        raise ValueError(f"an interval needs low <= high, got [{low}, {high}]")
    from scipy.stats import norm

    return (high - low) / (2 * float(norm.ppf(0.5 + level / 2)))


def differs(a: float, b: float, se_a: float, se_b: float = 0.0, z: float = Z) -> bool:
    """Return True when |a - b| exceeds z times the standard error of the difference (and that error is finite)."""
    spread = math.sqrt(se_a ** 2 + se_b ** 2)
    if not all(math.isfinite(v) for v in (a, b, spread)):
        return False
    return abs(a - b) > z * spread


def above(value: float, reference: float, se_value: float, se_reference: float = 0.0, z: float = Z) -> bool:
    """Return True when ``value`` lies clearly above ``reference`` (by more than z standard errors of the gap)."""
    return value > reference and differs(value, reference, se_value, se_reference, z)


def above_chance(accuracy: float, chance: float, n: int, z: float = Z) -> bool:
    """Return True when an accuracy on n items is clearly above ``chance`` (its error taken at chance: the null)."""
    return above(accuracy, chance, proportion_se(chance, n), 0.0, z)


def pick_winner(values: dict[str, float], errors: dict[str, float], lower_is_better: bool = True,
                z: float = Z) -> str | None:
    """Return the best name when it is clearly ahead of every other one, else None (a tie at this budget)."""
    finite = {name: v for name, v in values.items() if v is not None and math.isfinite(v)}
    if len(finite) < 2:
        return next(iter(finite), None)
    best = (min if lower_is_better else max)(finite, key=finite.get)
    rivals = [name for name in finite if name != best]
    if all(differs(finite[best], finite[r], errors.get(best, math.inf), errors.get(r, math.inf), z) for r in rivals):
        return best
    return None


def lowest_sentence(values: dict[str, float], errors: dict[str, float], what: str = "distance",
                    notes: dict[str, str] | None = None, fmt: str = ".3f", z: float = Z) -> str:
    """Return 'lowest <what>: <name> (v ± 2 se), clearly below every other' when the lowest value lies beyond z
    standard errors of every other one, else 'lowest <what>: no clear difference at this budget between <name> (...)
    and <the names within that noise>'. ``notes`` adds a remark per name inside its parentheses."""
    best = min(values, key=values.get)

    def shown(name: str) -> str:
        extra = f", {notes[name]}" if notes and name in notes else ""
        return f"{name} ({values[name]:{fmt}} ± {z * errors.get(name, math.inf):{fmt}}{extra})"

    if pick_winner(values, errors, z=z) == best:
        return f"lowest {what}: {shown(best)}, clearly below every other"
    tied = [name for name in values if name != best
            and not differs(values[best], values[name], errors.get(best, math.inf), errors.get(name, math.inf), z)]
    return f"lowest {what}: {NO_CLEAR_DIFFERENCE} between {shown(best)} and " + ", ".join(shown(n) for n in tied)


def comparison_sentence(name_a: str, a: float, se_a: float, name_b: str, b: float, se_b: float,
                        what: str, lower_is_better: bool = True, fmt: str = ".3f", z: float = Z) -> str:
    """Return '<winner> is clearly better on <what> (a ± 2 se vs b ± 2 se)' or 'no clear difference at this budget ...'."""
    error_fmt = fmt.replace("+", "")  # a sign belongs to the value, not to its error
    numbers = f"{name_a} {a:{fmt}} ± {z * se_a:{error_fmt}}, {name_b} {b:{fmt}} ± {z * se_b:{error_fmt}}"
    if not differs(a, b, se_a, se_b, z):
        return f"{NO_CLEAR_DIFFERENCE} in {what} ({numbers})"
    a_wins = (a < b) == lower_is_better
    return f"{name_a if a_wins else name_b} is clearly {'lower' if lower_is_better else 'higher'} in {what} ({numbers})"


def auc_se(auc: float, n_positive: int, n_negative: int) -> float:
    r"""Return the standard error of a ROC AUC (Hanley & McNeil 1982) from its value and the two class sizes.

    :math:`s^2 = \big(A(1-A) + (n_1 - 1)(Q_1 - A^2) + (n_2 - 1)(Q_2 - A^2)\big) / (n_1 n_2)`, with
    :math:`Q_1 = A / (2 - A)` and :math:`Q_2 = 2A^2 / (1 + A)`; at :math:`A = 0.5` it is the error of chance.
    """
    if n_positive < 1 or n_negative < 1:
        raise ValueError(f"an AUC needs both classes, got {n_positive} and {n_negative} items")
    a = min(max(float(auc), 1e-6), 1 - 1e-6)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (n_positive - 1) * (q1 - a * a) + (n_negative - 1) * (q2 - a * a)) / (n_positive * n_negative)
    return math.sqrt(max(variance, 0.0))
