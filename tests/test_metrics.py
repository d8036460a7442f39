"""Tests of strata.metrics on hand-checked examples."""

import numpy as np
import pandas as pd
import pytest

from strata.metrics import grouped_metrics, kendall, recall_at_k, regret_at_k, spearman

ENERGY = np.array([0.0, 1.0, 2.0, 3.0, 4.0])


def test_perfect_and_reversed_rankings():
    assert spearman(ENERGY, -ENERGY) == pytest.approx(1.0)
    assert kendall(ENERGY, -ENERGY) == pytest.approx(1.0)
    assert spearman(ENERGY, ENERGY) == pytest.approx(-1.0)
    assert recall_at_k(ENERGY, -ENERGY, 2) == 1.0
    assert regret_at_k(ENERGY, -ENERGY, 1) == 0.0


def test_hand_checked_values():
    score = np.array([5.0, 3.0, 4.0, 1.0, 2.0])  # predicted order: 0, 2, 1, 4, 3
    # ranks of -E: 5 4 3 2 1, of score: 5 3 4 1 2 -> d^2 = 0+1+1+1+1 = 4
    assert spearman(ENERGY, score) == pytest.approx(1 - 6 * 4 / (5 * 24))
    # 10 pairs, 2 discordant -> tau = (8 - 2) / 10
    assert kendall(ENERGY, score) == pytest.approx(0.6)
    assert recall_at_k(ENERGY, score, 2) == 0.5  # picks {0, 2}, truth {0, 1}
    assert recall_at_k(ENERGY, score, 3) == 1.0
    assert regret_at_k(ENERGY, np.array([0, 0, 0, 0, 9.0]), 1) == 4.0
    assert regret_at_k(ENERGY, np.array([1.0, 0, 0, 0, 9]), 2) == 0.0


def test_ties_and_tiny_groups():
    assert np.isnan(spearman([0.0, 1.0], [1.0, 0.0]))
    assert np.isnan(recall_at_k([0.0, 1.0], [1.0, 0.0], 1))
    assert np.isnan(spearman(ENERGY, np.ones(5)))
    # ties in the score are broken by input order: picks 0 and 1
    assert recall_at_k(ENERGY, np.ones(5), 2) == 1.0
    assert kendall(ENERGY, [2.0, 2.0, 1.0, 1.0, 0.0]) == pytest.approx(8 / np.sqrt(80))
    assert recall_at_k(ENERGY, -ENERGY, 10) == 1.0


def test_grouped_metrics_average_within_groups():
    df = pd.DataFrame(
        {
            "composition": ["A"] * 5 + ["B"] * 5 + ["C"] * 2,
            "energy": np.concatenate([ENERGY, ENERGY + 100, [0.0, 1.0]]),
            "score": np.concatenate([-ENERGY, ENERGY, [1.0, 0.0]]),
        }
    )
    result = grouped_metrics(df, "composition", "energy", "score", k=1)
    assert result["spearman"] == pytest.approx(0.0)  # mean of +1 and -1; C ignored
    assert result["recall@1"] == pytest.approx(0.5)
    assert result["regret@1"] == pytest.approx(2.0)
    assert result["n_groups"] == 2
