r"""Synthetic health records with known structure, and HAM10000's metadata table, for tabular GANs.

A table of patient records is what hospitals most often want to share, and
"synthetic" records are shared as if they were anonymous. To measure what a
tabular generator keeps and what it leaks we need a table whose truth is known,
so the kit draws one, deterministic by seed, one row per lesion:

=====================  ==================================================================
column                 how it is drawn (its known structure)
=====================  ==================================================================
``dx``                 diagnosis, HAM10000's seven codes with its class frequencies
``age``                years, :math:`\mathcal N(\mu_{dx}, 12^2)` clipped to 5-90 (melanoma,
                       keratoses and carcinomas older than nevi), rounded to 5 years as in HAM10000
``sex``                ``male`` with probability :math:`p_{dx}` (0.45-0.65)
``localization``       body site, drawn from a per-diagnosis table (face for actinic
                       keratoses, back and trunk for nevi and melanoma, legs for dermatofibroma)
``diameter_mm``        lesion diameter, log-normal, :math:`\log d = \log d_{dx} + 0.3\,\epsilon_1`
``ldh_u_l``            a lab value (lactate dehydrogenase, U/L):
                       :math:`180 + 0.8\,(\text{age} - 50) + 6\,(d - 6) + 15\,\epsilon_2`,
                       correlated with age and diameter; **missing** in 25% of rows,
                       more often for young patients (missing at random given age)
``crp_mg_l``           a lab value (C-reactive protein, mg/L), log-normal, rising with age;
                       **missing** completely at random in 10% of rows
=====================  ==================================================================

with :math:`\epsilon_i \sim \mathcal N(0, 1)` independent. A good synthetic
table reproduces the marginals (each column's distribution), the pairwise
correlations (age-ldh, diameter-ldh, dx-site), the missingness, and the
usefulness (a model predicting ``dx`` from the rest) without copying rows.

Real records come from HAM10000's ``HAM10000_metadata.csv`` (columns
``lesion_id, image_id, dx, dx_type, age, sex, localization``):
:func:`load_ham10000_records` keeps ``age, sex, localization, dx``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .phantom import CLASS_NAMES, HAM10000_COUNTS

#: The columns a table needs for the notebook's tabular section.
RECORD_COLUMNS: tuple[str, ...] = ("age", "sex", "localization", "dx")
#: Which record columns are categories (the rest are numbers).
CATEGORICAL_COLUMNS: tuple[str, ...] = ("sex", "localization", "dx")
SITES: tuple[str, ...] = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest",
                          "scalp", "neck", "hand", "foot")

#             age  p_male diameter(mm)
_DX_TABLE = {
    "akiec": (67, 0.65, 9.0), "bcc": (66, 0.60, 8.0), "bkl": (63, 0.55, 8.0), "df": (52, 0.45, 5.0),
    "mel": (61, 0.58, 10.0), "nv": (46, 0.50, 5.0), "vasc": (52, 0.45, 4.0),
}
# per-diagnosis site weights in the order of SITES (face, back, legs carry the known dx-site links)
_SITE_WEIGHTS = {
    "akiec": (1, 2, 1, 3, 1, 12, 2, 3, 2, 3, 0.5), "bcc": (4, 2, 3, 2, 1, 8, 3, 2, 2, 1, 0.5),
    "bkl": (3, 2, 3, 2, 1, 7, 3, 1, 1, 1, 0.5), "df": (1, 10, 2, 2, 0.5, 0.5, 0.5, 0.2, 0.2, 0.5, 1),
    "mel": (8, 4, 3, 3, 2, 3, 3, 1, 1, 1, 1), "nv": (7, 6, 5, 3, 4, 1, 2, 1, 1, 1, 1.5),
    "vasc": (3, 3, 4, 2, 2, 2, 1, 1, 1, 1, 1),
}


def synthetic_health_records(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` synthetic lesion records (dx, age, sex, localization, diameter_mm, ldh_u_l, crp_mg_l), by seed."""
    if int(n) != n or n < 10:
        raise ValueError(f"n must be a whole number of records >= 10, got {n!r}")
    rng = np.random.default_rng([int(seed), 8])  # the 8: this notebook's stream, independent of the phantom's
    counts = np.array([HAM10000_COUNTS[name] for name in CLASS_NAMES], dtype=float)
    dx = rng.choice(np.array(CLASS_NAMES), size=n, p=counts / counts.sum())
    mean_age, p_male, diameter = (np.array([_DX_TABLE[d][i] for d in dx], float) for i in range(3))
    age = np.clip(np.round(rng.normal(mean_age, 12.0) / 5) * 5, 5, 90)
    sex = np.where(rng.random(n) < p_male, "male", "female")
    site = np.empty(n, dtype=object)
    for name in CLASS_NAMES:
        rows = dx == name
        weights = np.array(_SITE_WEIGHTS[name], float)
        site[rows] = rng.choice(np.array(SITES, dtype=object), size=rows.sum(), p=weights / weights.sum())
    diameter_mm = np.round(np.exp(np.log(diameter) + 0.3 * rng.standard_normal(n)), 1)  # log d = log d_dx + 0.3 e1
    ldh = np.round(180 + 0.8 * (age - 50) + 6 * (diameter_mm - 6) + 15 * rng.standard_normal(n))
    crp = np.round(np.exp(0.2 + 0.015 * (age - 50) + 0.6 * rng.standard_normal(n)), 2)
    # missing values: ldh at random given age (young patients get fewer blood tests), crp completely at random
    p_ldh_missing = 1 / (1 + np.exp((age - 40) / 10)) * 0.5 + 0.1
    ldh = np.where(rng.random(n) < p_ldh_missing, np.nan, ldh)
    crp = np.where(rng.random(n) < 0.10, np.nan, crp)
    return pd.DataFrame({"dx": dx, "age": age, "sex": sex, "localization": site.astype(str),
                         "diameter_mm": diameter_mm, "ldh_u_l": ldh, "crp_mg_l": crp})


def check_record_columns(table: pd.DataFrame, where: str, needed=RECORD_COLUMNS) -> None:
    """Return None when ``table`` has every column in ``needed``, else raise ValueError naming the missing ones."""
    missing = [column for column in needed if column not in table.columns]
    if missing:
        raise ValueError(
            f"{where} lacks the column(s) {missing}; the tabular section needs {list(needed)} "
            f"(found {list(table.columns)}). Use HAM10000_metadata.csv as published, or rename your columns"
        )


def load_ham10000_records(path: str | os.PathLike) -> pd.DataFrame:
    """Return HAM10000's metadata as records (age, sex, localization, dx), one row per lesion, from its CSV."""
    path = Path(path).expanduser()
    if path.is_dir():
        candidates = [p for p in path.iterdir() if p.name.lower() in ("ham10000_metadata.csv", "ham10000_metadata.tab")]
        if not candidates:
            raise FileNotFoundError(f"no HAM10000_metadata.csv in {path}; pass the CSV's path or the folder holding it")
        path = candidates[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass the path of HAM10000_metadata.csv")
    table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tab" else ",")
    table.columns = [str(c).strip().strip('"') for c in table.columns]
    check_record_columns(table, str(path))
    if "lesion_id" in table.columns:  # several images of one lesion repeat its record: keep one per lesion
        table = table.drop_duplicates("lesion_id")
    records = table[list(RECORD_COLUMNS)].copy()
    records["age"] = pd.to_numeric(records["age"], errors="coerce")  # blanks -> missing
    for column in CATEGORICAL_COLUMNS:
        records[column] = records[column].astype(str).str.strip().str.lower()
    return records.reset_index(drop=True)


def split_records(table: pd.DataFrame, heldout_fraction: float = 0.3, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, heldout): a seeded random split of the rows."""
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must lie strictly between 0 and 1, got {heldout_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(table))
    n_heldout = max(1, round(len(table) * heldout_fraction))
    return (table.iloc[order[n_heldout:]].reset_index(drop=True), table.iloc[order[:n_heldout]].reset_index(drop=True))
