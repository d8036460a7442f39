"""Unit tests of strata.report on a small synthetic EMT campaign (55-atom PtAu icosahedra)."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron

from strata import campaign, orderings, ranking, report
from strata.descriptors import (
    BLOCKS,
    DescriptorSettings,
    describe_orderings,
    feature_names,
    region_of_feature,
)
from strata.layers import Topology
from strata.reference import write_atomically

ELEMENTS = ("Pt", "Au")
SETTINGS = DescriptorSettings(elements=ELEMENTS)


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """Two rounds (24 + 4 structures) of Pt28Au27 with EMT energies, result files, a model."""
    folder = tmp_path_factory.mktemp("mini")
    template = Icosahedron("Pt", 3, latticeconstant=4.0)
    topology = Topology.from_atoms(template, SETTINGS)
    rng = np.random.default_rng(1)
    n0, n1 = 24, 4
    codes = [orderings.random_ordering([28, 27], rng) for _ in range(n0 + n1 - 2)]
    shell = np.argsort(-np.linalg.norm(template.positions - template.get_center_of_mass(), axis=1))
    core_shell = np.zeros(len(template), dtype=np.int8)
    core_shell[shell[:27]] = 1  # Au outside
    codes = [core_shell, *codes[:n0 - 1], orderings.swap_mutation(core_shell, rng), *codes[n0 - 1:]]
    rows, paths = [], []
    for i, c in enumerate(codes):
        round_, index = (0, i) if i < n0 else (1, i - n0)
        atoms = template.copy()
        atoms.set_chemical_symbols(orderings.symbols_from_codes(c, ELEMENTS))
        atoms.calc = EMT()
        energy = atoms.get_potential_energy()
        sid = campaign.structure_id(round_, index)
        atoms.info.update(structure_id=sid, round=round_, template=0, composition="Au27Pt28",
                          origin="random", status="ok", wall_time=0.01)
        path = folder / f"{sid}.extxyz"
        write_atomically(atoms, path)
        paths.append(path)
        rows.append({"structure_id": sid, "round": round_, "template": 0,
                     "composition": "Au27Pt28", "origin": "random", "status": "ok",
                     "reason": "", "energy": energy, "wall_time": 0.01,
                     "predicted_rank": np.nan if round_ == 0 else index + 1,
                     "score": np.nan if round_ == 0 else -energy + rng.normal(0, 0.5),
                     "uncertainty": np.nan if round_ == 0 else 0.1, "codes": c})
    features = describe_orderings(topology, np.array(codes), SETTINGS)
    labelled = pd.concat([pd.DataFrame(rows),
                          pd.DataFrame(features, columns=feature_names(SETTINGS))], axis=1)
    model = {"n_estimators": 30, "ensemble_size": 2}
    surrogate = ranking.fit_surrogate(labelled[feature_names(SETTINGS)], labelled["energy"],
                                      ranking.query_groups(labelled["composition"]), model, 0)
    metrics = pd.DataFrame([{"round": 0, "reference_calls": n0, "failed": 0,
                             "best_energy": labelled.energy[:n0].min(), "cv.spearman": 0.5},
                            {"round": 1, "reference_calls": n0 + n1, "failed": 0,
                             "best_energy": labelled.energy.min(), "cv.spearman": 0.6,
                             "batch.spearman": 0.4}])
    return {"labelled": labelled, "paths": paths, "surrogate": surrogate, "model": model,
            "metrics": metrics, "folder": folder}


def _images(html):
    return re.findall(r"<img alt='[^']*' src='data:image/png;base64,([^']+)'>", html)


def test_readable_names_cover_every_feature():
    names = feature_names(SETTINGS)
    readable = [report.readable_name(n) for n in names]
    assert len(set(readable)) == len(names)
    assert report.readable_name("surface.frac.Pt") == "surface: Pt fraction"
    assert report.readable_name("surface-intermediate.bonds.Pt-Au") == \
        "surface→intermediate: Pt–Au bonds"
    assert report.readable_name("surface.site.vertex.frac.Au") == \
        "surface vertex sites: Au fraction"
    assert report.readable_name("not a feature") == "not a feature"


def test_shap_values_add_up_to_the_score(mini):
    surrogate, labelled = mini["surrogate"], mini["labelled"]
    values, data, parts = report.shap_values(surrogate, labelled, max_samples=20, seed=0)
    assert values.shape == (20, len(surrogate.feature_names))
    assert parts["prior"] > 0 and parts["trees"] > 0
    score = surrogate.score(data)
    # SHAP values add up to the score minus a constant (the expected value)
    offset = score - values.sum(axis=1).to_numpy()
    assert np.ptp(offset) < 1e-6


def test_region_shap_sums_to_one(mini):
    values, _, _ = report.shap_values(mini["surrogate"], mini["labelled"])
    regions = report.region_shap(values)
    assert list(regions.index) == [b for b in BLOCKS if b in regions.index]
    assert regions["share"].sum() == pytest.approx(1.0)
    assert regions["features"].sum() == len(mini["surrogate"].feature_names)


def test_weighted_features_drop_and_scale(mini):
    labelled = mini["labelled"]
    table = report.weighted_features(labelled, {"core": 0.0, "surface": 2.0})
    columns = campaign.feature_columns(table)
    assert not any(region_of_feature(c) == "core" for c in columns)
    assert np.allclose(table["surface.frac.Pt"], 2 * labelled["surface.frac.Pt"])
    assert np.allclose(table["global.atoms"], labelled["global.atoms"])


def test_weighted_features_match_recomputed_descriptors(mini):
    """Scaling columns is the same as describing with DescriptorSettings(region_weights=...)."""
    weights = {"surface": 3.0, "intermediate": 0.5, "core": 0.0}
    settings = DescriptorSettings(elements=ELEMENTS, region_weights=weights)
    template = Icosahedron("Pt", 3, latticeconstant=4.0)
    codes = np.stack(mini["labelled"]["codes"].to_numpy())
    direct = describe_orderings(Topology.from_atoms(template, settings), codes, settings)
    scaled = report.weighted_features(mini["labelled"], weights)
    assert campaign.feature_columns(scaled) == feature_names(settings)
    assert np.allclose(scaled[feature_names(settings)].to_numpy(), direct)


def test_ablation_table(mini):
    table = report.ablation_table(mini["labelled"], mini["model"], 0, 5)
    assert "weighting: uniform" in set(table["variant"])
    assert "without surface" in set(table["variant"])
    assert {"spearman", "kendall", "recall@5", "regret@5"} <= set(table.columns)
    full = table.set_index("variant").loc["weighting: uniform", "features"]
    assert table.set_index("variant").loc["without core", "features"] < full
    assert report.ablation_table(mini["labelled"].iloc[:6], mini["model"], 0, 5).empty


def test_layer_profile_of_core_shell(mini):
    best = report.best_results(mini["labelled"], mini["paths"], n=2)
    assert len(best) == 2
    energies = [a.get_potential_energy() for a in best]
    assert energies[0] == pytest.approx(mini["labelled"]["energy"].min())
    assert energies == sorted(energies)
    topology = Topology.from_atoms(best[0], SETTINGS)
    profile = report.layer_profile(best[0], topology, ELEMENTS)
    assert profile["atoms"].sum() == len(best[0])
    assert np.allclose(profile[list(ELEMENTS)].sum(axis=1), 1.0)
    assert len(report.cut_away(best[0])) < len(best[0])


def test_stage_times(mini, tmp_path):
    logs = tmp_path / "round_00" / "logs"
    logs.mkdir(parents=True)
    for stage in ("generate_candidates", "select_batch", "train_model"):
        (logs / f"{stage}.log").write_text("x")
    times = report.stage_times(mini["labelled"], {0: logs})
    assert times.loc[0, "compute_reference (s)"] == pytest.approx(24 * 0.01)
    assert times.loc[0, "select_batch (s)"] >= 0


def test_round_and_campaign_pages(mini):
    labelled, metrics = mini["labelled"], mini["metrics"]
    best = report.best_results(labelled, mini["paths"], n=2)
    html = report.round_page(1, metrics, labelled, surrogate=mini["surrogate"], best=best,
                             settings=SETTINGS, elements=ELEMENTS, shap_samples=20,
                             model_config=mini["model"], k=3)
    images = _images(html)
    # progress, rank, beeswarm, bar, regions, two structures
    assert len(images) == 7
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    for anchor in ("id='progress'", "id='model'", "id='layers'", "id='structures'",
                   "class=\"dataframe metrics\"", "class=\"dataframe ablation\"",
                   "class=\"dataframe batch\"", "href='../report.html'"):
        assert anchor in html
    first = report.round_page(0, metrics[:1], labelled[labelled["round"] == 0],
                              surrogate=mini["surrogate"], settings=SETTINGS,
                              elements=ELEMENTS, shap_samples=20, model_config=mini["model"])
    assert "no model chose it" in first
    campaign_html = report.campaign_page(metrics, ["00", "01"], labelled=labelled, best=best,
                                         settings=SETTINGS, elements=ELEMENTS)
    assert "href='round_01/report.html'" in campaign_html
    assert len(_images(campaign_html)) == 3


def test_shap_values_add_up_with_an_occupation_linear_prior(mini):
    labelled = mini["labelled"]
    names = feature_names(SETTINGS)
    model = {**mini["model"], "prior_features": "linear"}
    surrogate = ranking.fit_surrogate(labelled[names], labelled["energy"],
                                      ranking.query_groups(labelled["composition"]), model, 0)
    values, data, parts = report.shap_values(surrogate, labelled, max_samples=20, seed=0)
    offset = surrogate.score(data) - values.sum(axis=1).to_numpy()
    assert np.ptp(offset) < 1e-6
    assert parts["prior"] > 0
