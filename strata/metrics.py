"""Ranking metrics within one composition group.

Convention: a higher ``score`` means predicted *more stable* (lower energy),
so a perfect model has ``score = -energy``. Correlations are computed between
``score`` and ``-energy``. Groups with fewer than :data:`MIN_GROUP_SIZE`
structures give NaN for every metric (a rank correlation of two points is
always +-1 and carries no information); :func:`grouped_metrics` averages over
the remaining groups, ignoring NaN.

Ties: Spearman uses average ranks and Kendall is tau-b (scipy's defaults).
For recall@k and regret@k the top k are taken with a stable sort, so tied
scores are broken by input order, and the true k lowest energies are the k
first of a stable sort of the energies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

MIN_GROUP_SIZE = 3


def _too_small(*arrays) -> bool:
    return len(arrays[0]) < MIN_GROUP_SIZE


def spearman(true_energy, score) -> float:
    """Spearman rho between ``score`` and ``-true_energy`` (NaN for tiny or constant input)."""
    true_energy, score = np.asarray(true_energy, float), np.asarray(score, float)
    if _too_small(true_energy) or np.ptp(score) == 0 or np.ptp(true_energy) == 0:
        return float("nan")
    return float(stats.spearmanr(score, -true_energy).statistic)


def kendall(true_energy, score) -> float:
    """Kendall tau-b between ``score`` and ``-true_energy`` (NaN for tiny or constant input)."""
    true_energy, score = np.asarray(true_energy, float), np.asarray(score, float)
    if _too_small(true_energy) or np.ptp(score) == 0 or np.ptp(true_energy) == 0:
        return float("nan")
    return float(stats.kendalltau(score, -true_energy).statistic)


def top_k(score, k: int) -> np.ndarray:
    """Indices of the k highest scores (stable: ties keep input order)."""
    return np.argsort(-np.asarray(score, float), kind="stable")[:k]


def recall_at_k(true_energy, score, k: int) -> float:
    """Share of the true k lowest-energy structures among the k highest-scored.

    Parameters
    ----------
    true_energy : array_like
    score : array_like
        Higher = predicted more stable.
    k : int
        Clipped to the group size.

    Returns
    -------
    float in [0, 1], NaN for groups smaller than :data:`MIN_GROUP_SIZE`.
    """
    true_energy = np.asarray(true_energy, float)
    if _too_small(true_energy):
        return float("nan")
    k = min(k, len(true_energy))
    best = np.argsort(true_energy, kind="stable")[:k]
    return len(np.intersect1d(best, top_k(score, k))) / k


def regret_at_k(true_energy, score, k: int) -> float:
    """Best true energy among the k highest-scored minus the true minimum (>= 0).

    NaN for groups smaller than :data:`MIN_GROUP_SIZE`.
    """
    true_energy = np.asarray(true_energy, float)
    if _too_small(true_energy):
        return float("nan")
    return float(true_energy[top_k(score, k)].min() - true_energy.min())


def group_metrics(true_energy, score, k: int = 5) -> dict[str, float]:
    """All metrics of one group."""
    return {
        "spearman": spearman(true_energy, score),
        "kendall": kendall(true_energy, score),
        f"recall@{k}": recall_at_k(true_energy, score, k),
        f"regret@{k}": regret_at_k(true_energy, score, k),
    }


def grouped_metrics(
    df: pd.DataFrame, group_col: str, energy_col: str, score_col: str, k: int = 5
) -> pd.Series:
    """Metrics within each group, averaged over groups (NaN groups ignored).

    Parameters
    ----------
    df : pandas.DataFrame
    group_col : str
        Composition (ranking group) column.
    energy_col, score_col : str
    k : int

    Returns
    -------
    pandas.Series
        Mean of each metric over groups, plus ``n_groups`` (groups with at
        least :data:`MIN_GROUP_SIZE` rows).
    """
    per_group = per_group_metrics(df, group_col, energy_col, score_col, k)
    means = per_group.drop(columns="size").mean()
    means["n_groups"] = int((per_group["size"] >= MIN_GROUP_SIZE).sum())
    return means


def per_group_metrics(
    df: pd.DataFrame, group_col: str, energy_col: str, score_col: str, k: int = 5
) -> pd.DataFrame:
    """One row of metrics per group, with its ``size``."""
    rows = {
        name: {"size": len(g), **group_metrics(g[energy_col], g[score_col], k)}
        for name, g in df.groupby(group_col, sort=True)
    }
    return pd.DataFrame.from_dict(rows, orient="index")
