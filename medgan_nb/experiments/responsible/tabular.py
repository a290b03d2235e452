"""Notebook 08, synthetic health records: CTGAN with missing values, scored for fidelity, utility and copying.

:func:`fit_ctgan` fits a conditional tabular GAN (CTGAN, Xu et al., 2019, from
the ``ctgan`` package) wrapped in :class:`MissingAwareCTGAN`, which models each
gappy numeric column's missingness as its own yes/no column; :func:`tabular_report`
scores a synthetic table with ``sdmetrics`` (column shapes, column-pair trends;
:func:`sdmetrics_metadata`), train-on-synthetic/test-on-real utility
(:func:`utility_accuracy`) and closest-record distances, and
:func:`tabular_verdict` and :func:`plot_tabular_marginals` summarise and draw it.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ... import viz
from ...data.tabular import CATEGORICAL_COLUMNS
from ...metrics.privacy import closest_record_summary
from ...metrics.uncertainty import above_chance


MISSING_SUFFIX = "__missing"


class MissingAwareCTGAN:
    """CTGAN with missing numbers: each gappy numeric column gets a yes/no "missing" column CTGAN learns with the rest.

    CTGAN refuses NaN in numeric columns; SDV solves it the same way: fill the gaps
    (here with the column's median) and model the missingness as its own category,
    so the synthetic table is missing values as often, and for the same kind of
    rows, as the real one (e.g. LDH missing more often for young patients).
    """

    def __init__(self, model, columns: list[str], gappy: list[str]) -> None:
        self.model, self.columns, self.gappy = model, columns, gappy

    def sample(self, n: int) -> pd.DataFrame:
        """Return ``n`` synthetic records with the original columns, NaN where the model drew "missing"."""
        table = self.model.sample(n)
        for column in self.gappy:
            table.loc[table[column + MISSING_SUFFIX] == "yes", column] = np.nan
        return table[self.columns]


def fit_ctgan(train: pd.DataFrame, epochs: int, batch_size: int = 100, seed: int = 0) -> MissingAwareCTGAN:
    """Return a CTGAN model (the ``ctgan`` package) fitted to ``train``; its ``.sample(n)`` draws records."""
    from ctgan import CTGAN

    torch.manual_seed(seed)
    np.random.seed(seed)
    numeric = [c for c in train.columns if c not in CATEGORICAL_COLUMNS]
    gappy = [c for c in numeric if train[c].isna().any()]
    filled = train.copy()
    for column in gappy:
        filled[column + MISSING_SUFFIX] = np.where(train[column].isna(), "yes", "no")
        filled[column] = train[column].fillna(train[column].median())
    discrete = [c for c in filled.columns if c in CATEGORICAL_COLUMNS or c.endswith(MISSING_SUFFIX)]
    batch_size = max(10, min(batch_size, len(train)) // 10 * 10)  # CTGAN needs a multiple of its pac (10)
    model = CTGAN(epochs=epochs, batch_size=batch_size, pac=10, enable_gpu=False, verbose=False)
    model.set_random_state(seed)
    model.fit(filled, discrete_columns=discrete)
    return MissingAwareCTGAN(model, list(train.columns), gappy)


def sdmetrics_metadata(table: pd.DataFrame) -> dict:
    """Return the sdmetrics single-table metadata: each column as "categorical" or "numerical"."""
    return {"columns": {column: {"sdtype": "categorical" if column in CATEGORICAL_COLUMNS else "numerical"}
                        for column in table.columns}}


def utility_accuracy(train: pd.DataFrame, test: pd.DataFrame, target: str = "dx", seed: int = 0) -> float:
    """Return the accuracy on ``test`` of a random forest that predicts ``target`` from the other columns of ``train``."""
    from sklearn.ensemble import RandomForestClassifier

    from ...metrics.privacy import encode_records

    features = [column for column in train.columns if column != target]
    train_x, test_x = encode_records([train[features], test[features]], reference=train[features])
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=seed, n_jobs=1)
    forest.fit(train_x, train[target].astype(str))
    return float((forest.predict(test_x) == test[target].astype(str).to_numpy()).mean())


def tabular_report(train: pd.DataFrame, heldout: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> dict:
    """Return fidelity (sdmetrics), utility (train on synthetic vs real, test on real) and closest-record figures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the single-table report's move to a multi-table API
        from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    report.generate(train, synthetic, sdmetrics_metadata(train), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    missing_real = train.isna().mean()
    missing_synthetic = synthetic.isna().mean()
    result = {
        "column_shapes": float(properties["Column Shapes"]),  # mean KS / TV complement per column, 1 = identical
        "column_pair_trends": float(properties["Column Pair Trends"]),  # correlation / contingency similarity
        "quality_score": float(report.get_score()),
        "missing_share_real": {c: float(v) for c, v in missing_real.items() if v > 0},
        "missing_share_synthetic": {c: float(missing_synthetic[c]) for c, v in missing_real.items() if v > 0},
        "utility_real": utility_accuracy(train, heldout, seed=seed),
        "utility_synthetic": utility_accuracy(synthetic, heldout, seed=seed),
        "majority_class_accuracy": float((heldout["dx"] == train["dx"].mode()[0]).mean()),
        "n_heldout": len(heldout),
    }
    result.update(closest_record_summary(synthetic, train, heldout))
    result["column_details"] = report.get_details("Column Shapes")
    return result


def tabular_verdict(report: dict) -> str:
    """Return a one-line verdict on the synthetic table: fidelity, utility against the majority class, copies.

    The classifier trained on synthetic records "beats" the majority class only when its held-out accuracy lies more
    than two standard errors above the majority class's (the error of an accuracy at that level over the held-out
    records, as for any comparison with chance); otherwise there is no clear difference.
    """
    useful = above_chance(report["utility_synthetic"], report["majority_class_accuracy"], report["n_heldout"])
    return (f"verdict: fidelity {report['quality_score']:.2f} (sdmetrics, 1 = identical); a classifier trained on "
            f"synthetic records {'clearly beats' if useful else 'does not clearly beat'} the majority class "
            f"({report['utility_synthetic']:.3f} vs {report['majority_class_accuracy']:.3f} on "
            f"{report['n_heldout']} held-out records; real: {report['utility_real']:.3f}); exact copies "
            f"{report['exact_copy_share']:.1%}, synthetic/held-out closest-record ratio {report['dcr_ratio']:.2f} "
            "(near or above 1: no sign of copying)")


def plot_tabular_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] | None = None):
    """Return a figure overlaying each column's distribution in real and synthetic records."""
    import matplotlib.pyplot as plt

    columns = list(columns or real.columns)
    fig, axes = plt.subplots(1, len(columns), figsize=(2.6 * len(columns), 3.2))
    for axis, column in zip(np.atleast_1d(axes), columns):
        if column in CATEGORICAL_COLUMNS:
            shares = pd.DataFrame({"real": real[column].value_counts(normalize=True),
                                   "synthetic": synthetic[column].value_counts(normalize=True)}).fillna(0)
            shares.plot.bar(ax=axis, width=0.8, legend=False)
            axis.set_ylabel("share of records")
        else:
            values = pd.concat([real[column], synthetic[column]]).dropna()
            bins = np.linspace(values.min(), values.max(), 20) if len(values) else 10
            axis.hist(real[column].dropna(), bins=bins, density=True, alpha=0.6, label="real")
            axis.hist(synthetic[column].dropna(), bins=bins, density=True, alpha=0.6, label="synthetic")
            axis.set_ylabel("density")
        axis.set_xlabel(column)
        axis.set_title(column, fontsize=9)
    np.atleast_1d(axes)[0].legend(["real", "synthetic"], fontsize=8)
    fig.suptitle("Real vs synthetic health records, column by column")
    viz.finish(fig)
    return fig
