"""Unit tests of strata.report and strata.figures on the small synthetic EMT campaign of
tests/test_explain.py (55-atom PtAu icosahedra)."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
import test_explain
from ase.cluster import Icosahedron
from conftest import EMT, as_snakemake_reads_it
from test_explain import ELEMENTS, SETTINGS
from test_rounds import SMALL, campaign_rounds, charted  # noqa: F401  (fixtures)

from strata import evaluation, explain, figures, files, reference, report, rounds
from strata.campaign import Campaign
from strata.featurizer import Featurizer
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


def test_layer_profile_of_core_shell(mini):
    best = evaluation.best_so_far([], _results(mini), 2)
    topology = Topology.from_atoms(best[0], SETTINGS)
    profile = figures.layer_profile(best[0], topology, ELEMENTS)
    assert profile["atoms"].sum() == len(best[0])
    assert np.allclose(profile[list(ELEMENTS)].sum(axis=1), 1.0)
    assert len(figures.cut_away(best[0])) < len(best[0])


def test_round_page(mini, explained):
    labelled, metrics = mini["labelled"], mini["metrics"]
    best = evaluation.best_so_far([], _results(mini), 2)
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


def test_round_page_shows_what_relaxation_did(mini, explained):
    """Round 1 relaxed (3 BFGS steps: not converged): its steps, convergence and per-region
    displacement are reported; an unrelaxed campaign has no relaxation section."""
    labelled = mini["labelled"]
    relax = {**EMT, "relax": {**EMT["relax"], "enabled": True, "steps": 3}}
    relaxed = [reference.compute(atoms, relax) for atoms in _results(mini)
               if atoms.info["round"] == 1]
    featurizer = Featurizer([Icosahedron("Pt", 3, latticeconstant=4.0)], SETTINGS)
    table = pd.concat([labelled[labelled["round"] == 0],
                       files.labelled_table(relaxed, featurizer)], ignore_index=True)
    html = report.round_page(1, mini["metrics"], table, explained, settings=SETTINGS,
                             elements=ELEMENTS)
    section = html[html.index("id='relaxation'"):]
    assert "4 relaxed structures so far, 4 not converged within relax.steps" in section
    assert all(str(a.info["structure_id"]) in section for a in relaxed)
    surface = table["relaxation displacement surface (Å)"]
    assert (surface[table["round"] == 1] > 0).all()
    assert f"{surface[table['round'] == 1].mean():.3f}" in section
    assert "id='relaxation'" not in report.round_page(
        1, mini["metrics"], labelled, explained, settings=SETTINGS, elements=ELEMENTS)


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
    best = evaluation.best_so_far([], _results(mini), 2)
    html = report.campaign_page(mini["metrics"], ["00", "01"], labelled=mini["labelled"],
                                best=best, settings=SETTINGS, elements=ELEMENTS)
    assert "href='round_01/report.html'" in html
    assert "class=\"dataframe origins\"" in html
    assert len(_images(html)) == 3


def test_pages_show_the_regret_given_at_render_time(mini, explained):
    """The regret comes from best_energy and the ground truth when a page is rendered."""
    labelled, metrics = mini["labelled"], mini["metrics"]
    assert "regret" not in metrics
    ground_truth = labelled.energy.min() - 0.125
    for page in (
        report.campaign_page(evaluation.with_regret(metrics, ground_truth), ["00", "01"]),
        report.round_page(1, evaluation.with_regret(metrics, ground_truth), labelled, explained,
                          settings=SETTINGS, elements=ELEMENTS),
    ):
        assert ", regret 0.125 eV" in page
        assert "<th>regret</th>" in page
    assert "regret 0" not in report.campaign_page(metrics, ["00", "01"])


def test_round_page_says_what_each_block_is_for_and_its_shap_share(mini, explained):
    """With an environment block in the model, the SHAP summary names each block, what it
    is for and its share of the mean |SHAP|; a layers-only model gets no such note."""
    labelled, shap = mini["labelled"].copy(), explained["shap"].copy()
    column = "surface.local.Pt.k1.ps.Pt-Au.l2.n0"
    labelled[column] = np.linspace(0.0, 1.0, len(labelled))
    layers = explain.shap_columns(shap)
    total = shap[layers].abs().mean().sum()
    shap[column] = np.where(np.arange(len(shap)) % 2, 1.0, -1.0) * total / 3  # 25 % of all
    html = report.round_page(1, mini["metrics"], labelled, {**explained, "shap": shap},
                             settings=SETTINGS, elements=ELEMENTS)
    assert "<b>layers</b> 75 %" in html and "<b>local</b> 25 %" in html
    assert "shell-averaged over neighbours" in html
    assert "descriptors.blocks" not in report.round_page(
        1, mini["metrics"], mini["labelled"], explained, settings=SETTINGS, elements=ELEMENTS)


def test_round_page_draws_each_prototype_with_its_shap_direction(tmp_path):
    """A campaign with model.prototypes: the explain tables and exemplar environments, through
    their files (as the rules), give a section picturing every prototype; a model without
    prototypes (empty files) gets none."""
    from test_prototypes import CAMPAIGN, as_snakemake_reads_it

    from strata import rounds
    from strata.campaign import Campaign

    campaign = Campaign.from_config(as_snakemake_reads_it(CAMPAIGN))
    records = list(rounds.run(campaign))
    labelled, surrogate = records[-1].labelled, records[-1].surrogate
    tables = rounds.explain(campaign, labelled, surrogate)
    for name, table in tables.items():
        files.write_csv(table, tmp_path / f"{name}.csv")
    explained = {name: pd.read_csv(tmp_path / f"{name}.csv") for name in tables}
    files.write_structures(rounds.prototype_environments(campaign, labelled,
                                                         surrogate.prototypes),
                           tmp_path / "prototypes.extxyz")
    explained["environments"] = files.read_structures(tmp_path / "prototypes.extxyz")
    metrics = pd.concat([r.metrics for r in records], ignore_index=True)
    html = report.round_page(2, metrics, labelled, explained,
                             settings=campaign.settings.descriptors,
                             elements=list(campaign.elements))
    assert "id='prototypes'" in html
    assert "<img alt='prototype environments'" in html
    assert f"atoms like P{int(explained['prototypes']['prototype'].iloc[0])} →" in html
    empty = {**explained, "prototypes": explained["prototypes"].iloc[:0],
             "environments": []}
    assert "id='prototypes'" not in report.round_page(
        2, metrics, labelled, empty, settings=campaign.settings.descriptors,
        elements=list(campaign.elements))


# ----------------------------------------------------------------------------- formula, chart

@pytest.fixture(scope="module")
def formula_tables(campaign_rounds):  # noqa: F811
    campaign = Campaign.from_config(as_snakemake_reads_it(SMALL))
    out = {}
    for done in campaign_rounds:
        shap = rounds.explain(campaign, done.labelled, done.surrogate)["shap"]
        out[f"{done.round:02d}"] = rounds.formula(campaign, done.labelled, done.surrogate,
                                                  shap, done.cv_scores)[0]
    return out


def test_round_page_shows_the_formula_and_the_chart(campaign_rounds, charted,  # noqa: F811
                                                    formula_tables):
    campaign, charts = charted
    done, chart, formula = campaign_rounds[-1], charts[-1], formula_tables["02"]
    pictured = rounds.chart_representatives(campaign, done.labelled, chart["families"])
    metrics = pd.concat([d.metrics for d in campaign_rounds], ignore_index=True)
    settings = campaign.settings.descriptors
    plain = report.round_page(2, metrics, done.labelled, settings=settings,
                              elements=campaign.elements)
    html = report.round_page(2, metrics, done.labelled, settings=settings,
                             elements=campaign.elements, formula=formula,
                             chart={**chart, "representatives": pictured})
    assert "id='formula'" not in plain and "id='chart'" not in plain
    section = html[html.index("id='formula'"):html.index("id='chart'")]
    assert formula["formula"]["expression"].iloc[0] in section
    assert "class=\"dataframe formula\"" in section and "formula parity" in section
    chart_part = html[html.index("id='chart'"):]
    quality = chart["quality"].iloc[0]
    assert f"trustworthiness {quality['trustworthiness']:.3f}" in chart_part
    assert "chart of the structures" in chart_part
    # the map, the parity plot and one picture per family on top of the plain page
    assert len(_images(html)) == len(_images(plain)) + 2 + len(chart["families"])


def test_campaign_page_shows_the_formula_of_every_round_and_the_best_path(
        campaign_rounds, charted, formula_tables):  # noqa: F811
    _, charts = charted
    labelled = campaign_rounds[-1].labelled
    metrics = pd.concat([d.metrics for d in campaign_rounds], ignore_index=True)
    html = report.campaign_page(metrics, ["00", "01", "02"], labelled=labelled,
                                formulas={r: t["formula"] for r, t in formula_tables.items()},
                                chart_points=charts[-1]["points"])
    table = html[html.index("class=\"dataframe formulas\""):]
    for t in formula_tables.values():
        if not t["formula"].empty:
            assert t["formula"]["expression"].iloc[0] in table
    assert "campaign chart" in html
    plain = report.campaign_page(metrics, ["00", "01", "02"], labelled=labelled)
    assert "id='formula'" not in plain and "campaign chart" not in plain


# ----------------------------------------------------------------------------- hull

def _hull_tables(e_mix, pure=(-10.0, -20.0), n=10):
    """Hull and points of Ag(n-k)Au(k) with the given best mixing energies (k -> eV/atom)."""
    from strata import hull

    rows = []
    for i, (k, e) in enumerate(e_mix.items()):
        energy = n * e + ((n - k) * pure[0] + k * pure[1]) / n
        rows.append({"composition": f"Ag{n - k}Au{k}", "structure_id": f"r00-{i:03d}",
                     "energy": energy, "Ag": n - k, "Au": k})
    energies = dict(zip(["Ag", "Au"], pure, strict=True))
    points = hull.mixing_table(pd.DataFrame(rows), energies, ["Ag", "Au"])
    return {"hull": hull.hull_table(points, energies, ["Ag", "Au"], n), "points": points}


def test_round_and_campaign_pages_show_the_hull(mini, explained):
    first = _hull_tables({3: -0.03, 5: -0.01})
    second = _hull_tables({3: -0.03, 5: -0.04})
    html = report.round_page(1, mini["metrics"], mini["labelled"], explained,
                             settings=SETTINGS, elements=ELEMENTS,
                             hull={**second, "previous": first["hull"]})
    section = html[html.index("id='hull'"):]
    assert "2 of 2 compositions on the hull: Ag7Au3, Ag5Au5." in section
    assert "joined the hull: Ag5Au5" in section and "Ag5Au5 (−30.0 meV/atom)" in section
    assert len(_images(section[:section.index("<table")])) == 1
    assert "class=\"dataframe hull\"" in section
    assert "id='hull'" not in report.round_page(1, mini["metrics"], mini["labelled"],
                                                explained, settings=SETTINGS, elements=ELEMENTS)
    labelled = mini["labelled"]
    page = report.campaign_page(mini["metrics"], ["00", "01"], labelled=labelled,
                                hulls={"00": first["hull"], "01": second["hull"]})
    evolution = page[page.index("id='hull'"):]
    assert len(_images(evolution)) == 1
    calls = int((labelled["round"] <= 1).sum())
    assert f"<td>{calls}</td>" in evolution and "Ag7Au3, Ag5Au5" in evolution


def test_hull_pictures_the_best_ordering_of_every_composition():
    """Every mixed composition's best structure (matched by structure id) is pictured with
    its layer profile; the on-hull ones also in full; a structure not in the hull table, or
    a pure particle, is not."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.cluster import Icosahedron as ico

    from strata import hull

    pure = {"Pt": -10.0, "Au": -20.0}
    rows, structures = [], []
    for i, (k, e) in enumerate({3: -0.03, 5: -0.01, 8: -0.05}.items()):
        atoms = ico("Pt", 2, 4.0)
        atoms.symbols[:k] = "Au"  # Au in the core and part of the surface
        atoms.info.update(structure_id=f"r00-{i:03d}", composition=f"Pt{13 - k}Au{k}")
        energy = 13 * e + ((13 - k) * pure["Pt"] + k * pure["Au"]) / 13
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        structures.append(atoms)
        rows.append({"composition": f"Pt{13 - k}Au{k}", "structure_id": f"r00-{i:03d}",
                     "energy": energy, "Pt": 13 - k, "Au": k})
    extra = ico("Pt", 2, 4.0)
    extra.info.update(structure_id="r00-099", composition="Pt13")
    points = hull.mixing_table(pd.DataFrame(rows), pure, list(ELEMENTS))
    table = hull.hull_table(points, pure, list(ELEMENTS), 13)
    assert set(table.loc[table["on_hull"], "composition"]) >= {"Pt10Au3", "Pt5Au8"}
    section = report._hull_section({"hull": table, "points": points,
                                    "structures": [*structures, extra]},
                                   SETTINGS, ELEMENTS)
    pictures = section[section.index("Best ordering per composition"):]
    # grid, layer profiles, then one full figure per on-hull composition (2)
    assert len(_images(pictures)) == 2 + 2
    assert "r00-099" not in pictures
    profile = figures.layer_profile(structures[0], Topology.from_atoms(structures[0], SETTINGS),
                                    ELEMENTS)
    assert profile.loc[profile.index.max(), "Au"] == 1.0  # the core atom is Au
    assert report._hull_section({"hull": table, "points": points}, SETTINGS, ELEMENTS) \
        .count("<img") == 1  # without structures only the hull figure

