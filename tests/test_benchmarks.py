"""Smoke tests of the benchmark scripts' plumbing (no figures are asserted)."""

import numpy as np
import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def hawthorne():
    return load_benchmark("hawthorne2026")


def test_hawthorne_skips_without_data(hawthorne, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(hawthorne, "SEED_DATA", tmp_path / "absent")
    hawthorne.main(["--quick"])
    assert "skipped" in capsys.readouterr().out


def test_hawthorne_random_picking_exact(hawthorne):
    reference = hawthorne.random_picking(388, seeds=1000)
    assert reference["exact"]["mean position"] == pytest.approx(194.5)
    # batch accounting (10, then batches of 5) can only add labels
    assert reference["exact"]["mean labels"] >= 194.5


def test_hawthorne_overrides_and_summary(hawthorne):
    assert hawthorne.parse_overrides(["prior_weight=0", "prior=none"]) == {
        "prior_weight": 0, "prior": "none"}
    runs = hawthorne.simulate_random_campaigns(388, 5)
    summary = hawthorne.campaign_summary(runs)
    assert summary.loc["random", "seeds"] == 5
    assert np.all(runs["labels"] >= runs["position"])
