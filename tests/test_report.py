"""Unit tests of strata.report and strata.figures on the small synthetic EMT campaign of
tests/test_explain.py (55-atom PtAu icosahedra)."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
import test_explain
from test_explain import ELEMENTS, SETTINGS

from strata import explain, figures, files, report
from strata.descriptors import feature_names
from strata.layers import Topology
from strata.settings import ReportSettings

mini = test_explain.mini  # the shared fixture


def _images(html):
    return re.findall(r"<img alt='[^']*' src='data:image/png;base64,([^']+)'>", html)


@pytest.fixture(scope="module")
def explained(mini, tmp_path_factory):
    """The explanation tables of the mini model, through their CSV files (as the rule)."""
    folder = tmp_path_factory.mktemp("explain")
    settings = ReportSettings.from_config({"shap_samples": 20})
    tables = explain.explain_round(mini["labelled"], mini["surrogate"], mini["model"],
                                   settings, 0, 3)
    for name, table in tables.items():
        files.write_csv(table, folder / f"{name}.csv")
    return {name: pd.read_csv(folder / f"{name}.csv") for name in tables}


def _results(mini):
    return [files.read_result(path) for path in mini["paths"]]


def test_readable_names_cover_every_feature():
    names = feature_names(SETTINGS)
    readable = [figures.readable_name(n) for n in names]
    assert len(set(readable)) == len(names)
    assert figures.readable_name("surface.frac.Pt") == "surface: Pt fraction"
    assert figures.readable_name("surface-intermediate.bonds.Pt-Au") == \
        "surface→intermediate: Pt–Au bonds"
    assert figures.readable_name("surface.site.vertex.frac.Au") == \
        "surface vertex sites: Au fraction"
    assert figures.readable_name("surface-intermediate.count") == "surface→intermediate: bonds"
    assert figures.readable_name("core.count") == "core: atoms"
    assert figures.readable_name("not a feature") == "not a feature"


def test_best_so_far_incremental_equals_all_at_once(mini):
    results = _results(mini)
    labelled = mini["labelled"]
    everything = report.best_so_far([], results, 2)
    step = report.best_so_far(report.best_so_far([], results[:24], 2), results[24:], 2)
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
    best = report.best_so_far([], results, 1)
    assert sorted(a.info["composition"] for a in best) == ["Au27Pt28", "other"]
    assert results[0].info["structure_id"] not in {a.info["structure_id"] for a in best}
    firsts = report.best_so_far([], results, 2)[:2]  # the best of each composition first
    assert {a.info["composition"] for a in firsts} == {"Au27Pt28", "other"}
    assert report.best_so_far([], [], 3) == []


def test_best_so_far_round_trips_through_extxyz(mini, tmp_path):
    best = report.best_so_far([], _results(mini), 3)
    for atoms in best:  # as scripts/best_so_far.py: no empty strings in extxyz info
        atoms.info.pop("reason", None)
    files.write_structures(best, tmp_path / "best.extxyz")
    back = files.read_structures(tmp_path / "best.extxyz")
    assert [a.info["structure_id"] for a in back] == [a.info["structure_id"] for a in best]
    again = report.best_so_far(back, [], 3)
    assert [a.get_potential_energy() for a in again] == pytest.approx(
        [a.get_potential_energy() for a in best])


def test_layer_profile_of_core_shell(mini):
    best = report.best_so_far([], _results(mini), 2)
    topology = Topology.from_atoms(best[0], SETTINGS)
    profile = figures.layer_profile(best[0], topology, ELEMENTS)
    assert profile["atoms"].sum() == len(best[0])
    assert np.allclose(profile[list(ELEMENTS)].sum(axis=1), 1.0)
    assert len(figures.cut_away(best[0])) < len(best[0])


def test_stage_times(mini, tmp_path):
    logs = tmp_path / "round_00" / "logs"
    logs.mkdir(parents=True)
    for stage in ("generate_candidates", "select_batch", "train_model"):
        (logs / f"{stage}.log").write_text("x")
    bench = tmp_path / "round_00" / "benchmarks"
    bench.mkdir()
    (bench / "explain_model.tsv").write_text("s\th:m:s\n2.5\t0:00:02\n")
    times = report.stage_times(mini["labelled"], {0: logs})
    assert times.loc[0, "compute_reference (s)"] == pytest.approx(24 * 0.01)
    assert times.loc[0, "select_batch (s)"] >= 0
    assert times.loc[0, "explain_model (s)"] == pytest.approx(2.5)
    assert np.isnan(times.loc[0, "report_round (s)"])


def test_round_page(mini, explained):
    labelled, metrics = mini["labelled"], mini["metrics"]
    best = report.best_so_far([], _results(mini), 2)
    html = report.round_page(1, metrics, labelled, explained, best=best, settings=SETTINGS,
                             elements=ELEMENTS)
    images = _images(html)
    # progress, rank, beeswarm, bar, regions, two structures
    assert len(images) == 7
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    for anchor in ("id='progress'", "id='model'", "id='layers'", "id='structures'",
                   "class=\"dataframe metrics\"", "class=\"dataframe regions\"",
                   "class=\"dataframe weighting\"", "class=\"dataframe ablation\"",
                   "class=\"dataframe batch\"", "href='../report.html'",
                   "href='../round_00/report.html'", "scheme: surface-emphasis",
                   "without core", "on 20 labelled structures"):
        assert anchor in html, anchor


def test_round_page_without_model_view_or_tables(mini, explained):
    labelled, metrics = mini["labelled"], mini["metrics"]
    first = report.round_page(0, metrics[:1], labelled[labelled["round"] == 0], explained,
                              settings=SETTINGS, elements=ELEMENTS)
    assert "no model chose it" in first
    off = {**explained, "ablation": explained["ablation"].iloc[:0],
           "weighting": explained["weighting"].iloc[:0]}
    html = report.round_page(1, metrics, labelled, off, settings=SETTINGS, elements=ELEMENTS,
                             ablation=False)
    assert "switched off (report.ablation)" in html
    assert "class=\"dataframe ablation\"" not in html
    few = report.round_page(1, metrics, labelled, off, settings=SETTINGS, elements=ELEMENTS)
    assert "Too few labelled structures" in few


def test_campaign_page(mini):
    best = report.best_so_far([], _results(mini), 2)
    html = report.campaign_page(mini["metrics"], ["00", "01"], labelled=mini["labelled"],
                                best=best, settings=SETTINGS, elements=ELEMENTS)
    assert "href='round_01/report.html'" in html
    assert "class=\"dataframe origins\"" in html
    assert len(_images(html)) == 3
