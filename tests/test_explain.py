"""Unit tests of strata.explain on a small synthetic EMT campaign (55-atom PtAu icosahedra).

The ``mini`` fixture is shared with tests/test_report.py.
"""

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from strata import evaluation, explain, files, orderings, ranking
from strata.descriptors import (
    BLOCKS,
    DescriptorSettings,
    describe_orderings,
    feature_names,
    region_of_feature,
)
from strata.layers import Topology
from strata.settings import ModelSettings, ReportSettings

ELEMENTS = ("Pt", "Au")
SETTINGS = DescriptorSettings(elements=ELEMENTS)
MODEL = ModelSettings.from_config({"n_estimators": 30, "ensemble_size": 2})


def _codes(template, rng, n0, n1):
    """Random orderings of Pt28Au27, an Au-shell core-shell one and one swap of it."""
    codes = [orderings.random_ordering([28, 27], rng) for _ in range(n0 + n1 - 2)]
    centre = template.get_center_of_mass()
    shell = np.argsort(-np.linalg.norm(template.positions - centre, axis=1))
    core_shell = np.zeros(len(template), dtype=np.int8)
    core_shell[shell[:27]] = 1  # Au outside
    swapped = core_shell.copy()  # one Pt–Au swap of the core-shell ordering
    pt, au = rng.choice(np.flatnonzero(swapped == 0)), rng.choice(np.flatnonzero(swapped == 1))
    swapped[[pt, au]] = swapped[[au, pt]]
    return [core_shell, *codes[:n0 - 1], swapped, *codes[n0 - 1:]]


def _label(atoms, round_, index, rng):
    """EMT energy and the labels of one structure (batch scores after round 0)."""
    atoms.calc = EMT()
    energy = atoms.get_potential_energy()
    sid = files.structure_id(round_, index)
    atoms.info.update(structure_id=sid, round=round_, template=0, composition="Au27Pt28",
                      origin="random", status="ok", wall_time=0.01)
    later = round_ > 0
    return {"structure_id": sid, "round": round_, "template": 0, "composition": "Au27Pt28",
            "origin": "random", "status": "ok", "reason": "", "energy": energy,
            "wall_time": 0.01, "predicted_rank": index + 1 if later else np.nan,
            "score": -energy + rng.normal(0, 0.5) if later else np.nan,
            "uncertainty": 0.1 if later else np.nan}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """Two rounds (24 + 4 structures) of Pt28Au27 with EMT energies, result files, a model."""
    folder = tmp_path_factory.mktemp("mini")
    template = Icosahedron("Pt", 3, latticeconstant=4.0)
    rng = np.random.default_rng(1)
    n0, n1 = 24, 4
    codes = _codes(template, rng, n0, n1)
    rows, paths = [], []
    for i, c in enumerate(codes):
        round_, index = (0, i) if i < n0 else (1, i - n0)
        atoms = template.copy()
        atoms.set_chemical_symbols(orderings.symbols_from_codes(c, ELEMENTS))
        rows.append({**_label(atoms, round_, index, rng), "codes": c})
        paths.append(folder / f"{rows[-1]['structure_id']}.extxyz")
        files.write_result(atoms, paths[-1])
    features = describe_orderings(Topology.from_atoms(template, SETTINGS), np.array(codes),
                                  SETTINGS)
    labelled = pd.concat([pd.DataFrame(rows),
                          pd.DataFrame(features, columns=feature_names(SETTINGS))], axis=1)
    surrogate = fit(labelled, MODEL)
    metrics = pd.DataFrame([{"round": 0, "reference_calls": n0, "failed": 0,
                             "best_energy": labelled.energy[:n0].min(), "cv.spearman": 0.5},
                            {"round": 1, "reference_calls": n0 + n1, "failed": 0,
                             "best_energy": labelled.energy.min(), "cv.spearman": 0.6,
                             "batch.spearman": 0.4}])
    return {"labelled": labelled, "paths": paths, "surrogate": surrogate, "model": MODEL,
            "metrics": metrics, "folder": folder}


def fit(labelled, settings):
    """The surrogate of a labelled table."""
    return ranking.fit_surrogate(labelled[feature_names(SETTINGS)], labelled["energy"],
                                 ranking.groups_of(labelled, settings), settings, 0)


def _additive(table, surrogate, labelled):
    """The largest |score − (expected value + Σ SHAP)| and the table's score against the
    model's score of the same rows."""
    values = table[explain.shap_columns(table)].to_numpy()
    rebuilt = table["expected_value"].to_numpy() + values.sum(axis=1)
    rows = labelled.set_index("structure_id").loc[table["structure_id"]]
    return (np.abs(table["score"].to_numpy() - rebuilt).max(),
            np.abs(table["score"].to_numpy() - surrogate.score(rows)).max())


# ----------------------------------------------------------------------------- SHAP

def test_shap_values_and_expected_value_reproduce_the_score(mini):
    surrogate, labelled = mini["surrogate"], mini["labelled"]
    rows = explain.explained_rows(labelled, 20, seed=0)
    table, parts = explain.shap_table(surrogate, rows)
    assert len(table) == 20 and table["structure_id"].is_unique
    assert explain.shap_columns(table) == list(surrogate.feature_names)
    assert np.abs(parts.prior).sum() > 0 and np.abs(parts.trees).sum() > 0
    gap, score_gap = _additive(table, surrogate, labelled)
    assert gap < 1e-6
    assert score_gap < 1e-9


@pytest.mark.parametrize("changes", [
    {"prior_features": "linear"},
    {"region_weights": {"surface": 3.0, "core": 0.0}},
    {"prior": "none"},
])
def test_shap_values_add_up_for_every_prior(mini, changes):
    labelled = mini["labelled"]
    settings = MODEL.replace(**changes)
    surrogate = fit(labelled, settings)
    table, parts = explain.shap_table(surrogate, explain.explained_rows(labelled, 20, 0))
    assert _additive(table, surrogate, labelled)[0] < 1e-6
    names = list(surrogate.feature_names)
    if settings.prior == "none":
        assert not parts.prior.any()
    if settings.region_weight("core") == 0:
        core = [k for k, n in enumerate(names) if region_of_feature(n) == "core"]
        assert core and not parts.prior[:, core].any()  # core is out of the prior
        assert parts.prior.any()


def test_explained_rows_skip_failures_and_cap(mini):
    labelled = mini["labelled"].copy()
    labelled.loc[3, "energy"] = np.nan
    rows = explain.explained_rows(labelled, 10, seed=1)
    assert len(rows) == 10 and rows["energy"].notna().all()
    assert list(rows.index) == sorted(rows.index)
    assert len(explain.explained_rows(labelled, 100, 1)) == len(labelled) - 1


def test_region_shap_sums_to_one(mini):
    table, parts = explain.shap_table(mini["surrogate"], mini["labelled"])
    regions = explain.region_shap(table[explain.shap_columns(table)], parts)
    assert list(regions["region"]) == [b for b in BLOCKS if b in set(regions["region"])]
    assert regions["share"].sum() == pytest.approx(1.0)
    assert regions["features"].sum() == len(mini["surrogate"].feature_names)
    assert (regions["prior"] > 0).any() and (regions["trees"] > 0).any()
    # |prior + trees| <= |prior| + |trees|, per feature and so per region
    assert (regions["mean_abs_shap"] <= regions["prior"] + regions["trees"] + 1e-12).all()


# ----------------------------------------------------------------------------- ablation

def test_without_a_block_removes_exactly_its_columns(mini):
    labelled = mini["labelled"]
    columns = files.feature_columns(labelled)
    blocks = explain.block_columns(columns)
    assert sum(map(len, blocks.values())) == len(columns)
    for block, names in blocks.items():
        table = explain.without_blocks(labelled, [block])
        assert set(labelled.columns) - set(table.columns) == set(names)
        assert not any(region_of_feature(c) == block for c in files.feature_columns(table))
        assert np.array_equal(table["energy"], labelled["energy"])


def test_ablation_table(mini):
    cv = explain.CrossValidation(mini["labelled"], 0, 5)
    table = explain.ablation_table(cv, MODEL).set_index("variant")
    blocks = explain.block_columns(files.feature_columns(mini["labelled"]))
    assert {"spearman", "kendall", "recall@5", "regret@5"} <= set(table.columns)
    assert table.loc["all blocks", "features"] == sum(map(len, blocks.values()))
    for block, names in blocks.items():
        assert table.loc[f"without {block}", "features"] == table.loc["all blocks",
                                                                      "features"] - len(names)
    assert table.loc["only core", "features"] == len(blocks["core"])
    # the baseline is the round's own cross-validation (strata.evaluation)
    direct = evaluation.cross_validated_metrics(mini["labelled"], MODEL, 0, 5)
    assert table.loc["all blocks", "spearman"] == pytest.approx(direct["cv.spearman"])
    few = explain.CrossValidation(mini["labelled"].iloc[:6], 0, 5)
    assert explain.ablation_table(few, MODEL).empty


def test_a_weighting_scheme_changes_the_cross_validation(mini):
    labelled = mini["labelled"]
    schemes = {"uniform": {}, "strong": {"surface": 4.0, "intermediate": 1.0, "core": 0.1}}
    table = explain.weighting_table(explain.CrossValidation(labelled, 0, 5), MODEL, schemes)
    table = table.set_index("variant")
    assert list(table.index) == ["configured", "scheme: uniform", "scheme: strong"]
    assert table.loc["scheme: strong", "surface"] == 4.0
    assert table.loc["scheme: strong", "global"] == 1.0  # missing blocks weigh 1
    metrics = ["spearman", "kendall", "regret@5"]
    uniform, strong = table.loc["scheme: uniform", metrics], table.loc["scheme: strong", metrics]
    assert np.allclose(table.loc["configured", metrics], uniform)  # configured: all 1
    assert not np.allclose(uniform, strong)
    # the row is a real refit of ModelSettings.replace(region_weights=scheme)
    direct = evaluation.cross_validated_metrics(
        labelled, MODEL.replace(region_weights=schemes["strong"]), 0, 5)
    assert strong["spearman"] == pytest.approx(direct["cv.spearman"])


def test_a_scheme_without_any_prior_block_fits_no_prior(mini):
    off = dict.fromkeys(BLOCKS, 0.0)
    cv = explain.CrossValidation(mini["labelled"], 0, 5)
    table = explain.weighting_table(cv, MODEL, {"off": off}).set_index("variant")
    assert table.loc["configured", "prior"] == "ridge"
    assert table.loc["scheme: off", "prior"] == "none"
    only_core = MODEL.replace(region_weights={"core": 0.0})
    assert explain.cv_settings(only_core, [n for n in files.feature_columns(mini["labelled"])
                                           if region_of_feature(n) == "core"]).prior == "none"


# ----------------------------------------------------------------------------- entry point

def test_explain_round_tables_round_trip_through_csv(mini, tmp_path):
    report = ReportSettings.from_config({"shap_samples": 12,
                                         "weighting_schemes": {"uniform": {}}})
    tables = explain.explain_round(mini["labelled"], mini["surrogate"], MODEL, report, 0, 5)
    assert set(tables) == {"shap", "regions", "ablation", "weighting"}
    assert len(tables["shap"]) == 12
    assert len(tables["weighting"]) == 2 and len(tables["ablation"]) > len(BLOCKS)
    for name, table in tables.items():
        files.write_csv(table, tmp_path / f"{name}.csv")
        back = pd.read_csv(tmp_path / f"{name}.csv")
        assert list(back.columns) == list(table.columns)
        assert len(back) == len(table)
    off = explain.explain_round(mini["labelled"], mini["surrogate"], MODEL,
                                report.replace(ablation=False), 0, 5)
    assert off["ablation"].empty and off["weighting"].empty
    for name in ("ablation", "weighting"):  # empty tables keep a header: readable CSV
        files.write_csv(off[name], tmp_path / f"off-{name}.csv")
        assert pd.read_csv(tmp_path / f"off-{name}.csv").empty
