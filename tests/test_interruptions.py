"""Whole EMT campaigns through the real snakemake CLI: kills, failures and determinism.

* SIGKILL at random moments, resumed each time with the documented commands, ends equal to an
  uninterrupted campaign of the same seed, and no reference is computed twice (the store's
  ledger counts every calculation actually run).
* Two runs of one config and seed give byte-identical batches and identical numbers.
* Failed calculations are recorded, left out of training, shown in the report, and the
  campaign carries on.
* A damaged result file is restored from the store by the next run, plain or resumed (or
  computed again when the store has no copy), and the temporary files of a database write
  killed half-way are removed by the next gathering.
"""

import html
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ase.db import connect
from ase.io import read
from conftest import EMT, SNAKEMAKE, as_snakemake_reads_it, copy_workflow
from test_database import killed_gathering

from strata import files, reference, store
from strata.campaign import Campaign
from strata.orderings import codes_from_symbols

pytestmark = pytest.mark.slow

# A small campaign: Pt28Au27 on the 55-atom icosahedron, 2 rounds (6 + 2 references). A
# config file, not --config: Snakemake reads --config values as strings.
SMALL_CONFIG = """\
rounds: 2
initial_size: 6
batch_size: 2
pool_size: 60
elements: [Pt, Au]
composition: [{Pt: 28, Au: 27}]
cluster: {shape: icosahedron, size: 3, lattice_constant: 4.0}
ground_truth_energy: null
"""
SMALL = ["--configfile", "small.yaml"]
# The documented way to resume after a kill: remove the stale lock, rerun incomplete jobs.
UNLOCK = ["--unlock"]
RESUME = ["--cores", "2", "--rerun-incomplete"]
TIMEOUT = 900
# Columns that measure time, not results.
TIMING = ("wall_time",)


def workflow_copy(folder):
    copy_workflow(folder)
    (folder / "small.yaml").write_text(SMALL_CONFIG)
    return folder


def snakemake(folder, *args, env=None):
    done = subprocess.run([str(SNAKEMAKE), *args, *SMALL], cwd=folder, capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)
    return done


def run_campaign(folder, env=None):
    done = snakemake(folder, *RESUME, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return folder


def ledger(folder):
    return store.read_ledger(Path(folder, "results", "calculations"))


def read_table(path):
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in table.columns if c in TIMING or "time" in c])


def untimed(info):
    return {k: v for k, v in info.items() if k not in TIMING}


def assert_same_campaign(a, b):
    """Same structures, energies, selections and metrics (wall times left out)."""
    a, b = Path(a, "results"), Path(b, "results")
    rounds = sorted(p.name for p in a.glob("round_*"))
    assert rounds == sorted(p.name for p in b.glob("round_*")) == ["round_00", "round_01"]
    for round_ in rounds:
        for name in ("batch.extxyz", "candidates.csv"):
            assert (a / round_ / name).read_bytes() == (b / round_ / name).read_bytes(), name
        for name in ("descriptors.csv", "metrics.csv"):
            pd.testing.assert_frame_equal(read_table(a / round_ / name),
                                          read_table(b / round_ / name))
        refs_a = sorted(p.name for p in (a / round_ / "references").glob("*.extxyz"))
        assert refs_a == sorted(p.name for p in (b / round_ / "references").glob("*.extxyz"))
        for name in refs_a:
            ra = files.read_result(a / round_ / "references" / name)
            rb = files.read_result(b / round_ / "references" / name)
            assert ra.info["structure_id"] == rb.info["structure_id"]
            assert ra.get_chemical_symbols() == rb.get_chemical_symbols()
            assert np.array_equal(ra.positions, rb.positions)
            assert ra.get_potential_energy() == rb.get_potential_energy()
    pd.testing.assert_frame_equal(read_table(a / "metrics.csv"), read_table(b / "metrics.csv"))
    best_a, best_b = (read(x / "best_structures.extxyz", index=":") for x in (a, b))
    assert [untimed(x.info) for x in best_a] == [untimed(x.info) for x in best_b]
    assert [x.get_chemical_symbols() for x in best_a] == [x.get_chemical_symbols() for x in best_b]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The uninterrupted campaign."""
    return run_campaign(workflow_copy(tmp_path_factory.mktemp("baseline")))


def test_same_seed_same_campaign(baseline, tmp_path):
    """Determinism: a second run is identical (byte-identical batches, same numbers)."""
    again = run_campaign(workflow_copy(tmp_path / "again"))
    assert_same_campaign(baseline, again)
    for folder in (baseline, again):
        assert len(ledger(folder)) == 8


def _kill_group(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _wait_for(condition, process, limit):
    """Wait until ``condition()`` or the process ended or ``limit`` seconds passed."""
    start = time.monotonic()
    while time.monotonic() - start < limit and process.poll() is None:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_killed_campaign_resumes_to_the_same_result(baseline, tmp_path):
    """SIGKILL the whole snakemake process group at random moments, resume, compare."""
    folder = workflow_copy(tmp_path / "killed")
    results = folder / "results"
    rng = random.Random(int(os.environ.get("STRATA_KILL_SEED", "7")))

    def n_computed():
        return len(ledger(folder))

    # Moments: random delays, some of them while reference jobs of a round are running.
    some = rng.randint(1, 4)
    moments = [
        ("random delay", lambda: False, rng.uniform(2, 8)),
        ("during the references of round 0", lambda: n_computed() >= some, 120),
        ("random delay", lambda: False, rng.uniform(2, 10)),
        ("once round 1 is selected",
         lambda: (results / "round_01" / "batch.extxyz").exists(), 180),
    ]
    log = []
    for what, condition, limit in moments:
        process = subprocess.Popen([str(SNAKEMAKE), *RESUME, *SMALL], cwd=folder,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        _wait_for(condition, process, limit)
        finished = process.poll() is not None
        if not finished:
            _kill_group(process)
        log.append((what, "finished before the kill" if finished else "killed",
                    n_computed()))
        unlock = snakemake(folder, *UNLOCK)
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    print("kills (moment, outcome, calculations so far):", *log, sep="\n  ")
    assert sum(outcome == "killed" for _, outcome, _ in log) >= 2, log
    run_campaign(folder)

    assert_same_campaign(baseline, folder)
    keys = [row["key"] for row in ledger(folder)]
    assert len(keys) == len(set(keys)) == 8, (log, keys)
    assert all(row["status"] == "ok" for row in ledger(folder))
    # every reference file is complete and no temporary file is left behind
    assert len(list(results.glob("round_*/references/*.extxyz"))) == 8
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]


def test_forced_rerun_takes_references_from_the_store(baseline, tmp_path):
    """Rerunning every reference job (lost outputs, changed code) recomputes nothing."""
    folder = workflow_copy(tmp_path / "rerun")
    shutil.copytree(baseline / "results", folder / "results")
    before = len(ledger(folder))
    done = snakemake(folder, *RESUME, "--forcerun", "compute_reference")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert len(ledger(folder)) == before == 8
    logs = (folder / "results").glob("round_*/logs/compute_reference_*.log")
    assert sum("taken from the store" in path.read_text() for path in logs) == 8
    assert_same_campaign(baseline, folder)


def test_failed_calculations_are_survived(tmp_path):
    """Some references fail, and every one of round 1: recorded, excluded, reported."""
    folder = workflow_copy(tmp_path / "faults")
    env = dict(os.environ, **{reference.FAULT_ENV: "r00-001,r00-004,r01-*"})
    run_campaign(folder, env=env)
    results = folder / "results"
    failed = {}
    for path in sorted(results.glob("round_*/references/*.extxyz")):
        result = files.read_result(path)
        if result.info["status"] != "ok":
            failed[result.info["structure_id"]] = result.info["reason"]
    assert set(failed) == {"r00-001", "r00-004", "r01-000", "r01-001"}
    assert all("InjectedFault" in reason for reason in failed.values())
    # excluded from training: the models saw only the finite energies
    labelled = pd.concat([pd.read_csv(results / f"round_{r}" / "descriptors.csv")
                          for r in ("00", "01")])
    assert labelled.loc[labelled.status == "failed", "energy"].isna().all()
    metrics = pd.read_csv(results / "metrics.csv")
    assert list(metrics.failed) == [2, 4]
    assert list(metrics.reference_calls) == [6, 8]
    # shown in the reports: each failed structure by id with its reason (not merely the word
    # "failed", which every report holds as a column name)
    round_page = (results / "round_00" / "report.html").read_text()
    campaign_page = (results / "report.html").read_text()
    assert "Failed calculations (4)" in campaign_page
    for structure_id, reason in failed.items():
        assert structure_id in campaign_page and html.escape(reason) in campaign_page
        if structure_id.startswith("r00"):
            assert structure_id in round_page and html.escape(reason) in round_page
    assert "r00-002" not in campaign_page.split("Failed calculations")[1].split("<h2")[0]
    # failures are recorded in the ledger but not stored (a rerun computes them again)
    rows = ledger(folder)
    assert sum(row["status"] == "failed" for row in rows) == 4
    stored = {path.stem for path in (results / "calculations").glob("*.extxyz")}
    assert {row["key"] for row in rows if row["status"] == "failed"}.isdisjoint(stored)


def test_every_calculation_failing_stops_with_a_clear_message(tmp_path):
    """STRATA_INJECT_FAULT=*: nothing to train on; the run stops and says why."""
    folder = workflow_copy(tmp_path / "all-fail")
    done = snakemake(folder, *RESUME, env=dict(os.environ, **{reference.FAULT_ENV: "*"}))
    assert done.returncode != 0
    references = sorted((folder / "results" / "round_00" / "references").glob("*.extxyz"))
    assert len(references) == 6
    assert all(files.read_result(p).info["status"] == "failed" for p in references)
    train_log = (folder / "results" / "round_00" / "logs" / "train_model.log")
    message = done.stdout + done.stderr + (train_log.read_text() if train_log.exists() else "")
    assert "every reference calculation so far failed" in message
    assert not (folder / "results" / "round_00" / "model.txt").exists()


# ---- damaged result files and a database write killed half-way


def finished_copy(baseline, folder):
    """A copy of the finished campaign folder (results, .snakemake, times kept)."""
    shutil.copytree(baseline, folder, symlinks=True)
    return folder


def damaged_lines(done):
    """The lines a rerun says about damaged result files."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.startswith("damaged result")]


def stored_key(folder, round_, index):
    """The store key of a batch structure (the campaign's reference settings: EMT)."""
    batch = read(Path(folder, "results", f"round_{round_}", "batch.extxyz"), index=":")
    return store.calculation_key(batch[index], EMT)


def resume(folder):
    """The README's commands after an interruption."""
    unlock = snakemake(folder, *UNLOCK)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    done = snakemake(folder, *RESUME)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def test_damaged_results_are_restored_from_the_store(baseline, tmp_path):
    """Truncated to half (plain rerun), then emptied (README resume): restored byte for byte
    from results/calculations, one line each, and nothing else reruns."""
    folder = finished_copy(baseline, tmp_path / "damaged")
    references = folder / "results" / "round_00" / "references"
    truncated = references / "003.extxyz"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    problem = store.result_problem(truncated)
    assert problem.startswith("XYZError")
    done = snakemake(folder, "--cores", "2")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert damaged_lines(done) == [
        f"damaged result results/round_00/references/003.extxyz ({problem}): restored from "
        f"results/calculations/{stored_key(folder, '00', 3)}.extxyz"]
    assert "Nothing to be done" in done.stdout + done.stderr  # nothing made from it reruns

    emptied = folder / "results" / "round_01" / "references" / "001.extxyz"
    emptied.write_text("")
    assert damaged_lines(resume(folder)) == [
        "damaged result results/round_01/references/001.extxyz (empty file): restored from "
        f"results/calculations/{stored_key(folder, '01', 1)}.extxyz"]
    for path in (truncated, emptied):
        assert path.read_bytes() == (baseline / path.relative_to(folder)).read_bytes()
    assert_same_campaign(baseline, folder)
    assert ledger(folder) == ledger(baseline)  # no calculation run again


def test_damaged_result_without_a_stored_copy_is_computed_again(baseline, tmp_path):
    """Garbage in a result whose store copy is gone: set aside, computed once, the campaign
    (rerun from there) the same; the next rerun has nothing to do."""
    folder = finished_copy(baseline, tmp_path / "recomputed")
    damaged = folder / "results" / "round_00" / "references" / "001.extxyz"
    garbage = b"\x00\xffnot a result\n" * 10
    damaged.write_bytes(garbage)
    problem = store.result_problem(damaged)
    key = stored_key(folder, "00", 1)
    (folder / "results" / "calculations" / f"{key}.extxyz").unlink()
    done = resume(folder)
    assert damaged_lines(done) == [
        f"damaged result results/round_00/references/001.extxyz ({problem}), no intact copy "
        "in results/calculations: set aside as 001.extxyz.damaged, computed again"]
    rows = ledger(folder)
    assert rows[:-1] == ledger(baseline)  # only that one calculation ran (again)
    assert (rows[-1]["key"], rows[-1]["structure_id"], rows[-1]["status"]) == (
        key, "r00-001", "ok")
    assert (damaged.parent / "001.extxyz.damaged").read_bytes() == garbage
    assert_same_campaign(baseline, folder)
    again = snakemake(folder, "--cores", "2")
    assert again.returncode == 0 and not damaged_lines(again)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_temporary_files_of_a_killed_database_write_are_removed(baseline, tmp_path):
    """A gathering SIGKILLed while it writes (here the first one: no database yet) leaves its
    temporary files; the resumed run gathers again and removes them."""
    folder = finished_copy(baseline, tmp_path / "campaign")
    results = folder / "results"
    (results / "references.db").unlink()
    paths = sorted(results.glob("round_*/references/*.extxyz"))
    pid = killed_gathering(paths, results / "references.db", tmp_path)
    assert (results / f".references.db.{pid}.tmp").exists()
    resume(folder)
    assert sorted(p.name for p in results.glob("*references.db*")) == ["references.db"]
    with connect(results / "references.db") as db:
        assert db.count() == 8


def test_no_structure_is_selected_twice_and_reports_show_the_database(tmp_path):
    """Four rounds under Snakemake with failures injected in rounds 1 and 2: no ordering (up to
    the particle's symmetry) and no failed one is ever selected twice, read from the batch
    files; the reports' best energy and best structures are those of references.db."""
    folder = workflow_copy(tmp_path / "repeats")
    env = dict(os.environ, **{reference.FAULT_ENV: "r01-000,r02-*"})
    done = snakemake(folder, *RESUME, "--config", "rounds=4", "batch_size=3", env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    results = folder / "results"
    campaign = Campaign.from_config(as_snakemake_reads_it(yaml.safe_load(SMALL_CONFIG)))
    keys, ids = [], []
    for r in range(4):
        batch = files.read_structures(results / f"round_{r:02d}" / "batch.extxyz")
        assert batch, f"round {r} selected nothing"
        codes = np.array([codes_from_symbols(a.get_chemical_symbols(), campaign.elements)
                          for a in batch])
        keys += list(campaign.keys(np.zeros(len(batch), dtype=int), codes))
        ids += [a.info["structure_id"] for a in batch]
    assert len(keys) == 6 + 3 * 3
    assert len(set(keys)) == len(keys), "an ordering was selected twice"
    with connect(results / "references.db") as db:
        rows = list(db.select())
    assert sorted(row.structure_id for row in rows) == sorted(ids)
    failed = {row.structure_id for row in rows if row.status == "failed"}
    assert failed == {"r01-000", "r02-000", "r02-001", "r02-002"}
    ok = sorted((row.energy, row.structure_id) for row in rows if row.status == "ok")
    campaign_page = (results / "report.html").read_text()
    assert f"best energy {ok[0][0]:.4f} eV" in campaign_page
    assert f"{len(rows)} reference calls, {len(failed)} failed" in campaign_page
    failed_table = campaign_page.split("id='failed'")[1].split("<h2")[0]
    for row in rows:
        if row.status == "failed":
            assert row.structure_id in failed_table and row.data["reason"]
            assert html.escape(row.data["reason"]) in failed_table
    best_section = campaign_page.split("id='structures'")[1]
    pictured = re.findall(r"alt='structure ([^']+)'", best_section)
    assert pictured and pictured[0] == ok[0][1]  # the lowest-energy structure, first
    assert pictured == [sid for _, sid in ok[:len(pictured)]]
    last_round = (results / "round_03" / "report.html").read_text()
    assert f"best energy {ok[0][0]:.4f} eV" in last_round
