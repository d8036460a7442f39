"""The campaign through the real snakemake CLI: rounds, extension, lint, formatting."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.db import connect
from conftest import REPO, SNAKEMAKE, copy_workflow, run_snakemake, write_gpaw_campaign

from strata.files import read_labelled
from strata.store import read_ledger

SMALL = ["initial_size=6", "batch_size=3", "pool_size=100"]
BIN = Path(sys.executable).parent


def computed_count(folder):
    """Reference calculations actually run (not taken from the store), from the job logs."""
    logs = Path(folder, "results").glob("round_*/logs/compute_reference_*.log")
    return sum(path.read_text().count(":computed:") for path in logs)


def reference_mtimes(folder):
    return {p: p.stat().st_mtime_ns for p in Path(folder, "results").glob("round_*/references/*")}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A finished 2-round EMT campaign (module-scoped: several tests read it)."""
    folder = copy_workflow(tmp_path_factory.mktemp("campaign"))
    done = run_snakemake(folder, "--config", "rounds=2", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def test_campaign_writes_every_round(campaign):
    results = campaign / "results"
    for round_ in ("00", "01"):
        for name in ("candidates.csv", "batch.extxyz", "descriptors.csv", "model.txt",
                     "metrics.csv", "report.html", "explain/formula.csv", "explain/formula.txt",
                     "chart/points.csv", "chart/families.csv", "chart/quality.csv"):
            assert (results / f"round_{round_}" / name).is_file(), (round_, name)
    assert len(list((results / "round_00" / "references").glob("*.extxyz"))) == 6
    assert len(list((results / "round_01" / "references").glob("*.extxyz"))) == 3
    assert (results / "best_structures.extxyz").is_file()
    assert (results / "report.html").is_file()


def test_database_holds_every_reference(campaign):
    with connect(campaign / "results" / "references.db") as db:
        rows = list(db.select())
    assert len(rows) == 9
    assert {row.status for row in rows} == {"ok"}
    assert {row.round for row in rows} == {0, 1}
    assert len({row.structure_id for row in rows}) == 9
    listing = subprocess.run([str(BIN / "ase"), "db", str(campaign / "results/references.db")],
                             capture_output=True, text=True)
    assert listing.returncode == 0 and "Rows: 9" in listing.stdout


def planned_rules(done):
    """The rules of the jobs a dry run plans (``rule name:`` lines, ``all`` left out)."""
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    names = re.findall(r"^(?:localrule|rule|checkpoint) (\w+):$", done.stdout + done.stderr,
                       flags=re.MULTILINE)
    return set(names) - {"all"}


def test_regret_is_computed_by_the_reports(campaign):
    """Not in a round's metrics (training does not depend on the ground truth), but in the
    campaign's metrics.csv, from best_energy and the config's ground_truth_energy."""
    results = campaign / "results"
    assert "regret" not in pd.read_csv(results / "round_00" / "metrics.csv")
    metrics = pd.read_csv(results / "metrics.csv")
    assert list(metrics.columns[3:5]) == ["best_energy", "regret"]
    truth = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["ground_truth_energy"]
    assert np.allclose(metrics["regret"], metrics["best_energy"] - truth)
    assert "regret" in (results / "report.html").read_text()


REPORT_CHANGES = {
    "ground_truth_energy: 60.0": {"report_round", "report_campaign"},
    "report: {best_structures: 2}": {"best_so_far", "report_round", "report_campaign"},
    # the formula screens its features by the explain stage's SHAP values
    "report: {shap_samples: 50}": {"explain_model", "formula", "report_round",
                                   "report_campaign"},
    "report: {ablation: false}": {"explain_model", "formula", "report_round",
                                  "report_campaign"},
    "report: {weighting_schemes: {uniform: {core: 2.0}}}": {"explain_model", "formula",
                                                            "report_round", "report_campaign"},
    "report: {formula: {features: 3}}": {"formula", "report_round", "report_campaign"},
    "report: {chart: {pool_sample: 50}}": {"chart", "report_round", "report_campaign"},
    "report: {formula: {enabled: false}, chart: {enabled: false}}": {"report_round",
                                                                     "report_campaign"},
}


def test_unchanged_campaign_plans_nothing(campaign):
    done = run_snakemake(campaign, "-n", "--config", "rounds=2", *SMALL)
    assert planned_rules(done) == set()
    assert "Nothing to be done" in done.stdout + done.stderr


@pytest.mark.parametrize("change", list(REPORT_CHANGES))
def test_report_keys_rerun_only_report_rules(campaign, change):
    """A key only the reports read plans only report rules (explain_model for report.*)."""
    (campaign / "overlay.yaml").write_text(change + "\n")
    done = run_snakemake(campaign, "-n", "--configfile", "config/config.yaml", "overlay.yaml",
                         "--config", "rounds=2", *SMALL)
    assert planned_rules(done) == REPORT_CHANGES[change]


def test_unrelated_key_redoes_no_reference(campaign):
    before = reference_mtimes(campaign)
    n_computed = computed_count(campaign)
    (campaign / "overlay.yaml").write_text("report: {best_structures: 2, shap_samples: 50}\n")
    done = run_snakemake(campaign, "--configfile", "config/config.yaml", "overlay.yaml",
                         "--config", "rounds=2", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert reference_mtimes(campaign) == before
    assert computed_count(campaign) == n_computed


def test_raising_rounds_computes_only_the_new_round(campaign):
    before = reference_mtimes(campaign)
    n_computed = computed_count(campaign)
    done = run_snakemake(campaign, "--config", "rounds=3", *SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    after = reference_mtimes(campaign)
    assert {p: after[p] for p in before} == before
    new = set(after) - set(before)
    assert len(new) == 3 and all("round_02" in str(p) for p in new)
    assert computed_count(campaign) == n_computed + 3


def test_composition_scan_reports_the_hull(tmp_path):
    """The hull preset, shrunk to the 13-atom icosahedron and four compositions: the pure
    particles are computed once, compositions skipped in round 0 are computed in round 1,
    every round tables and pictures the hull."""
    folder = copy_workflow(tmp_path)
    (folder / "small.yaml").write_text(yaml.safe_dump({
        "composition": {"scan": {"Au": [4, 7]}, "step": 1}, "cluster": {"size": 2},
        "batch_size": 2, "pool_size": 100, "rounds": 2,
        "report": {"formula": {"enabled": False}, "chart": {"enabled": False}}}))
    done = run_snakemake(folder, "--configfile", "config/agau55-hull.yaml", "small.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    results = folder / "results"
    assert len(list((results / "pure" / "references").glob("*.extxyz"))) == 2
    hull = pd.read_csv(results / "hull.csv")
    assert list(hull["composition"]) == ["Ag13", "Ag9Au4", "Ag8Au5", "Ag7Au6", "Ag6Au7", "Au13"]
    assert hull["on_hull"].iloc[[0, -1]].all() and (hull["distance"] >= 0).all()
    # round 0 at every 6th composition and the last (2 each); round 1's batch goes first to
    # the compositions with nothing computed yet
    assert list(hull["computed"].iloc[1:-1]) == [2, 1, 1, 2]
    assert hull.equals(pd.read_csv(results / "round_01" / "hull.csv"))
    for page in (results / "round_01" / "report.html", results / "report.html"):
        assert "id='hull'" in page.read_text()
    # the pure particles are not computed again when the campaign is extended
    pure = {p: p.stat().st_mtime_ns for p in (results / "pure" / "references").glob("*")}
    more = run_snakemake(folder, "--configfile", "config/agau55-hull.yaml", "small.yaml",
                         "--config", "rounds=3")
    assert more.returncode == 0, more.stderr[-3000:]
    assert pure == {p: p.stat().st_mtime_ns for p in (results / "pure" / "references").glob("*")}
    assert (results / "round_02" / "hull.csv").is_file()


def test_snakemake_lint_is_clean():
    done = subprocess.run([str(SNAKEMAKE), "--lint", "--cores", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Lints for" not in done.stdout + done.stderr


def test_rules_are_snakefmt_formatted():
    done = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_code_is_ruff_clean():
    done = subprocess.run([str(BIN / "ruff"), "check", "strata", "scripts", "tests", "benchmarks"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("tasks, relaxed", [(1, True), (2, False)],
                         ids=["serial-relaxed", "2-ranks"])
def test_gpaw_campaign_under_snakemake(tmp_path, tasks, relaxed):
    """A 2-round GPAW LCAO campaign of Cu11Ag2 (13 atoms) under snakemake: serial with EMT
    pre-relaxation and GPAW relaxations, and single points with
    ``reference.resources.tasks: 2`` (the rule launches mpirun and the store runs under MPI):
    three real calculations, each computed once on the ranks asked for, and a report."""
    if tasks > 1 and shutil.which("mpirun") is None:
        pytest.skip("needs mpirun (openmpi-bin)")
    folder = copy_workflow(tmp_path / "gpaw")
    relax = {"relax": {"enabled": True, "fmax": 0.1}, "prerelax": {"calculator": "emt"}}
    write_gpaw_campaign(folder, tasks=tasks, **(relax if relaxed else {}))
    done = run_snakemake(folder, "--configfile", "gpaw.yaml", timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    with connect(folder / "results" / "references.db") as db:
        rows = list(db.select())
    assert len(rows) == 3 and all(row.status == "ok" for row in rows), [r.reason for r in rows]
    assert all(row.calculator == "gpaw" and row.scf_iterations > 0 for row in rows)
    assert [row.mpi_ranks for row in rows] == [tasks] * 3
    assert len({round(row.energy, 6) for row in rows}) == 3  # three distinct orderings
    ledger = read_ledger(folder / "results" / "calculations")  # rank 0 alone appends
    assert sorted(row["status"] for row in ledger) == ["ok"] * 3
    assert (folder / "results" / "round_01" / "report.html").exists()
    if relaxed:  # relaxed in DFT after EMT, trained on the lattice rows, trajectories kept
        assert all(row.prerelax_steps > 0 and row.relax_converged and row.fmax < 0.1
                   for row in rows)
        assert len(list((folder / "results" / "calculations").glob("*.traj"))) == 3
        table = read_labelled(sorted((folder / "results").glob("round_*/descriptors.csv")))
        assert (table["relaxation displacement surface (Å)"] > 0.01).all()
