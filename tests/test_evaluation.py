"""Round metrics: out-of-sample batch scores, cross-validation, progress and regret."""

import numpy as np
import pandas as pd
import pytest
import test_explain

from strata import evaluation, files
from strata.settings import ModelSettings

MODEL = ModelSettings.from_config({})


def labelled_table(n_per_round=(12, 4), seed=0):
    """A synthetic labelled table whose energy is a known function of two features."""
    rng = np.random.default_rng(seed)
    rows = []
    for round_, n in enumerate(n_per_round):
        for i in range(n):
            x = rng.normal(size=2)
            energy = 2.0 * x[0] - x[1] + 0.01 * rng.normal()
            rows.append({"structure_id": f"r{round_:02d}-{i:03d}", "round": round_,
                         "template": 0, "composition": "Au73Pt74", "origin": "random",
                         "status": "ok", "reason": "", "energy": energy, "wall_time": 0.1,
                         "predicted_rank": i if round_ else np.nan,
                         "score": -energy if round_ else np.nan, "uncertainty": 0.0,
                         "codes": "0 1", "f.a": x[0], "f.b": x[1]})
    return pd.DataFrame(rows)


def _round_metrics(table, round_):
    scores = evaluation.cross_validated_scores(table, MODEL, 0)
    return evaluation.round_metrics(table, round_, MODEL, 5, scores)


def test_batch_scored_perfectly_by_the_model_that_chose_it():
    table = labelled_table()
    row = _round_metrics(table, 1).iloc[0]
    assert row["batch.spearman"] == 1.0 and row["batch.kendall"] == 1.0
    assert row["batch.regret@1"] == 0.0


def test_progress_counts_calls_and_failures():
    table = labelled_table()
    table.loc[3, ["status", "energy"]] = ["failed", np.nan]
    row = evaluation.progress(table, 1)
    assert row["reference_calls"] == 16 and row["failed"] == 1
    assert row["best_energy"] == table.energy.min()
    assert "regret" not in row  # the reports' (with_regret): training does not depend on it


def test_regret_is_added_at_render_time():
    table = labelled_table()
    metrics = pd.concat([_round_metrics(table, r) for r in (0, 1)],
                        ignore_index=True)
    assert "regret" not in metrics
    ground_truth = table.energy.min() - 0.5
    with_regret = evaluation.with_regret(metrics, ground_truth)
    columns = list(with_regret.columns)
    assert columns[columns.index("best_energy") + 1] == "regret"
    assert np.allclose(with_regret["regret"], metrics["best_energy"] - ground_truth)
    assert np.isclose(with_regret["regret"].iloc[-1], 0.5)
    # a changed ground truth replaces the regret; none removes it
    again = evaluation.with_regret(with_regret, ground_truth + 0.25)
    assert list(again.columns) == columns and np.isclose(again["regret"].iloc[-1], 0.25)
    assert list(evaluation.with_regret(with_regret, None).columns) == list(metrics.columns)
    several = metrics.assign(best_energy=np.nan)  # several compositions: no single best
    assert evaluation.with_regret(several, ground_truth)["regret"].isna().all()


def test_cross_validation_learns_a_learnable_energy():
    table = labelled_table(n_per_round=(60,))
    figures = evaluation.cross_validated_metrics(table, MODEL, 0, k=5)
    assert figures["cv.spearman"] > 0.8
    # every structure is scored once, by a model that did not see it
    scores = evaluation.cross_validated_scores(table, MODEL, 0)
    assert sorted(scores["structure_id"]) == sorted(table["structure_id"])
    assert figures == evaluation.cv_metrics(scores, MODEL, 5)


def test_too_few_labels_have_no_cross_validated_scores():
    scores = evaluation.cross_validated_scores(labelled_table(n_per_round=(6,)), MODEL, 0)
    assert scores.empty and evaluation.cv_metrics(scores, MODEL, 5) == {}


def test_round_zero_has_no_batch_metrics():
    row = _round_metrics(labelled_table(), 0).iloc[0]
    assert not any(name.startswith("batch.") for name in row.index)

# ---- best structures so far (a round's best.extxyz); the mini campaign of tests/test_explain.py



mini = test_explain.mini  # the shared fixture


def _results(mini):
    return [files.read_result(path) for path in mini["paths"]]


def test_best_so_far_incremental_equals_all_at_once(mini):
    results = _results(mini)
    labelled = mini["labelled"]
    everything = evaluation.best_so_far([], results, 2)
    step = evaluation.best_so_far(evaluation.best_so_far([], results[:24], 2), results[24:], 2)
    assert [a.info["structure_id"] for a in step] == [a.info["structure_id"] for a in everything]
    energies = [a.get_potential_energy() for a in everything]
    assert energies == sorted(energies) and len(everything) == 2
    assert energies[0] == pytest.approx(labelled["energy"].min())
    assert energies[1] == pytest.approx(np.sort(labelled["energy"])[1])


def test_best_so_far_ranks_within_composition_and_skips_failures(mini):
    results = _results(mini)[:6]
    for atoms in results[3:]:
        atoms.info["composition"] = "other"
    results[0].info["status"] = "failed"
    best = evaluation.best_so_far([], results, 1)
    assert sorted(a.info["composition"] for a in best) == ["Au27Pt28", "other"]
    assert results[0].info["structure_id"] not in {a.info["structure_id"] for a in best}
    firsts = evaluation.best_so_far([], results, 2)[:2]  # the best of each composition first
    assert {a.info["composition"] for a in firsts} == {"Au27Pt28", "other"}
    assert evaluation.best_so_far([], [], 3) == []


def test_best_so_far_round_trips_through_extxyz(mini, tmp_path):
    best = evaluation.best_so_far([], _results(mini), 3)
    for atoms in best:  # as scripts/best_so_far.py: no empty strings in extxyz info
        atoms.info.pop("reason", None)
    files.write_structures(best, tmp_path / "best.extxyz")
    back = files.read_structures(tmp_path / "best.extxyz")
    assert [a.info["structure_id"] for a in back] == [a.info["structure_id"] for a in best]
    again = evaluation.best_so_far(back, [], 3)
    assert [a.get_potential_energy() for a in again] == pytest.approx(
        [a.get_potential_energy() for a in best])


def test_with_chance_takes_each_rounds_largest_chance():
    metrics = pd.DataFrame({"round": [0, 1, 2], "best_energy": [1.0, 0.9, 0.9]})
    chances = {0: pd.DataFrame(columns=["group", "chance"]),
               1: pd.DataFrame({"group": ["A", "B"], "chance": [0.2, 0.6]}),
               2: pd.DataFrame({"group": ["A", "B"], "chance": [0.0, 0.2]})}
    table = evaluation.with_chance(metrics, chances)
    np.testing.assert_allclose(table["better_chance"], [np.nan, 0.6, 0.2])
    assert "better_chance" not in metrics
