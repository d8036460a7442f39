"""The calculation store: keys, computed once, failures not stored, ledger, lock."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import yaml
from conftest import EMT, GPAW, REPO, cluster

from strata import reference, store
from strata.calculators import calculator_settings
from strata.campaign import Campaign
from strata.clusters import build_template
from strata.config import validate
from strata.files import read_result, write_result, write_structures


def test_calculation_key_depends_on_atoms_and_settings_only():
    atoms = cluster()
    key = store.calculation_key(atoms, EMT)
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-3
    swapped = atoms.copy()
    swapped.symbols[0] = "Au"
    relabelled = atoms.copy()
    relabelled.info["structure_id"] = "r05-003"
    assert store.calculation_key(relabelled, EMT) == key
    assert store.calculation_key(atoms, dict(EMT)) == key
    assert len({key, store.calculation_key(moved, EMT),
                store.calculation_key(swapped, EMT),
                store.calculation_key(atoms, GPAW)}) == 4


def test_store_computes_once_and_ledger_counts(tmp_path):
    calculations = tmp_path / "calculations"
    atoms = cluster()
    first, computed = store.compute_cached(atoms, EMT, calculations)
    assert computed
    again = atoms.copy()
    again.info["structure_id"] = "r03-001"
    second, computed_again = store.compute_cached(again, EMT, calculations)
    assert not computed_again
    assert second.info["structure_id"] == "r03-001"  # the job's own labels, stored physics
    assert second.get_potential_energy() == pytest.approx(first.get_potential_energy(), abs=1e-9)
    ledger = store.read_ledger(calculations)
    assert len(ledger) == 1
    assert ledger[0]["key"] == store.calculation_key(atoms, EMT)
    assert ledger[0]["status"] == "ok" and ledger[0]["structure_id"] == "r00-000"


def test_failed_calculations_are_not_stored(tmp_path, inject_fault):
    calculations = tmp_path / "calculations"
    inject_fault()
    for _ in range(2):
        result, computed = store.compute_cached(cluster(), EMT, calculations)
        assert computed and result.info["status"] == "failed"
    assert not list(calculations.glob("*.extxyz"))
    assert [row["status"] for row in store.read_ledger(calculations)] == ["failed", "failed"]


def test_injected_fault_is_not_part_of_the_key(tmp_path, inject_fault, monkeypatch):
    """A failure injected, then lifted: the same key is computed again, now successfully."""
    calculations = tmp_path / "calculations"
    key = store.calculation_key(cluster(), EMT)
    inject_fault("r00-000")
    assert store.calculation_key(cluster(), EMT) == key
    assert store.compute_cached(cluster(), EMT, calculations)[0].info["status"] == "failed"
    monkeypatch.delenv(reference.FAULT_ENV)
    result, computed = store.compute_cached(cluster(), EMT, calculations)
    assert computed and result.info["status"] == "ok"
    assert [(row["key"], row["status"]) for row in store.read_ledger(calculations)] == [
        (key, "failed"), (key, "ok")]
    assert (calculations / f"{key}.extxyz").exists()


def test_damaged_store_file_is_computed_again(tmp_path):
    calculations = tmp_path / "calculations"
    atoms = cluster()
    store.compute_cached(atoms, EMT, calculations)
    stored = calculations / f"{store.calculation_key(atoms, EMT)}.extxyz"
    stored.write_text("13\ntruncated by a crash")
    result, computed = store.compute_cached(atoms, EMT, calculations)
    assert computed and result.info["status"] == "ok"
    assert read_result(stored).info["status"] == "ok"


def _cached_job(args):
    calculations, symbol, structure_id = args
    atoms = build_template("icosahedron", 2, 4.0, symbol=symbol)
    atoms.info["structure_id"] = structure_id
    result, computed = store.compute_cached(atoms, EMT, calculations)
    return computed, os.getpid()


def test_parallel_jobs_share_store_and_ledger(tmp_path):
    """Eight processes append to one ledger: every line complete, one per calculation."""
    calculations = str(tmp_path / "calculations")
    jobs = [(calculations, symbol, f"r00-{i:03d}")
            for i, symbol in enumerate(("Pt", "Au", "Cu", "Ag", "Ni", "Pd", "Al", "Pt"))]
    with ProcessPoolExecutor(4) as pool:
        outcomes = list(pool.map(_cached_job, jobs))
    ledger = store.read_ledger(calculations)
    assert sum(computed for computed, _ in outcomes) == len(ledger) == 7  # Pt asked twice
    assert all(len(row) == len(store.LEDGER_COLUMNS) for row in ledger)
    assert len(list(tmp_path.glob("calculations/*.extxyz"))) == 7
    assert not list(tmp_path.glob("calculations/.*tmp"))


@pytest.mark.slow
def test_gpaw_single_point_through_the_store(tmp_path):
    """Real GPAW LCAO on Cu13 through compute_cached, the path of the workflow."""
    atoms = cluster("Cu", 3.6)
    result, computed = store.compute_cached(atoms, GPAW, tmp_path / "store")
    assert computed and result.info["status"] == "ok", result.info["reason"]
    assert np.isfinite(result.get_potential_energy())
    assert result.info["scf_iterations"] > 0
    assert result.get_forces().shape == (13, 3)
    assert np.abs(result.get_forces().sum(axis=0)).max() < 0.5  # near-zero net force
    path = tmp_path / "result.extxyz"
    write_result(result, path)
    back = read_result(path)
    assert back.get_potential_energy() == pytest.approx(result.get_potential_energy())
    assert back.info["calculator"] == "gpaw" and back.info["scf_iterations"] > 0
    again, computed_again = store.compute_cached(atoms, GPAW, tmp_path / "store")
    assert not computed_again
    assert again.get_potential_energy() == pytest.approx(result.get_potential_energy())


def _slow_same_job(args):
    """Both workers ask for the same calculation at the same moment (a barrier); computing
    it takes a second, so the second asks while the first holds the lock."""
    import time

    calculations, barrier = args

    real = store.compute

    def slow(atoms, settings, txt=None, trajectory=None):
        time.sleep(1.0)
        return real(atoms, settings, txt=txt, trajectory=trajectory)

    store.compute = slow
    barrier.wait(timeout=60)
    _, computed = store.compute_cached(cluster(), EMT, calculations)
    return computed


def test_same_calculation_in_two_jobs_runs_once(tmp_path):
    """A job orphaned by a killed Snakemake and its rerun: the second waits for the first."""
    calculations = str(tmp_path / "calculations")
    with multiprocessing.Manager() as manager, ProcessPoolExecutor(2) as pool:
        barrier = manager.Barrier(2)
        computed = list(pool.map(_slow_same_job, [(calculations, barrier)] * 2))
    assert sorted(computed) == [False, True]
    assert len(store.read_ledger(calculations)) == 1


# ---- damaged reference result files (results/round_NN/references/III.extxyz)

def _damage(path, how):
    """Damage a result file as a full disk, an interrupted copy or a stray write would."""
    data = path.read_bytes()
    damaged = {"truncated": data[: len(data) // 2], "empty": b"",
               "garbage": b"\x00\xff\x13 not an extxyz file\n" * 5,
               "header only": data.split(b"\n")[0] + b"\n"}[how]
    path.write_bytes(damaged)


@pytest.fixture
def finished(tmp_path):
    """A batch of two structures whose results were computed through the store and written
    beside it, as compute_reference does."""
    batch = []
    for index, symbol in enumerate(("Pt", "Au")):
        atoms = cluster(symbol)
        atoms.info.update(structure_id=f"r00-{index:03d}", composition=f"{symbol}13")
        batch.append(atoms)
    write_structures(batch, tmp_path / "batch.extxyz")
    paths = {}
    for index, atoms in enumerate(batch):
        result, _ = store.compute_cached(atoms, EMT, tmp_path / "calculations")
        paths[index] = tmp_path / "references" / f"{index:03d}.extxyz"
        write_result(result, paths[index])
    return {"folder": tmp_path, "batch": tmp_path / "batch.extxyz", "paths": paths,
            "atoms": batch, "store": tmp_path / "calculations",
            "bytes": {i: p.read_bytes() for i, p in paths.items()}}


def _stored(finished, index):
    return finished["store"] / f"{store.calculation_key(finished['atoms'][index], EMT)}.extxyz"


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "header only"])
def test_result_problem_names_the_damage(finished, how):
    path = finished["paths"][1]
    assert store.result_problem(path) is None
    _damage(path, how)
    problem = store.result_problem(path)
    assert problem and "\n" not in problem
    if how == "empty":
        assert problem == "empty file"
    if how == "truncated":
        assert "Frame has" in problem


def test_failed_result_is_whole(tmp_path, inject_fault):
    inject_fault()
    result, _ = store.compute_cached(cluster(), EMT, tmp_path / "calculations")
    write_result(result, tmp_path / "000.extxyz")
    assert result.info["status"] == "failed"
    assert store.result_problem(tmp_path / "000.extxyz") is None


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_damaged_result_is_restored_from_the_store(finished, how):
    """Byte for byte, as old as its stored copy (not older than the batch), nothing computed."""
    path = finished["paths"][1]
    _damage(path, how)
    problem = store.result_problem(path)
    lines = store.repair_references(finished["batch"], finished["paths"], EMT, finished["store"])
    assert lines == [f"damaged result {path} ({problem}): restored from {_stored(finished, 1)}"]
    assert path.read_bytes() == finished["bytes"][1]
    assert finished["paths"][0].read_bytes() == finished["bytes"][0]
    mtime = path.stat().st_mtime_ns
    assert mtime == max(_stored(finished, 1).stat().st_mtime_ns,
                        finished["batch"].stat().st_mtime_ns)
    assert len(store.read_ledger(finished["store"])) == 2  # nothing computed
    assert store.repair_references(finished["batch"], finished["paths"], EMT,
                                   finished["store"]) == []


def test_damaged_result_without_a_stored_copy_is_set_aside(finished):
    """Set aside under a new name each time, so that the workflow sees a new input."""
    path = finished["paths"][0]
    _stored(finished, 0).unlink()
    for n, name in enumerate(("000.extxyz.damaged", "000.extxyz.damaged.2")):
        path.write_bytes(finished["bytes"][0][:100])
        lines = store.repair_references(finished["batch"], finished["paths"], EMT,
                                        finished["store"])
        assert len(lines) == 1 and lines[0].startswith(f"damaged result {path} (")
        assert lines[0].endswith(f"no intact copy in {finished['store']}: set aside as {name}, "
                                 "computed again")
        assert not path.exists()
        assert (path.parent / name).read_bytes() == finished["bytes"][0][:100]
        assert len(list(path.parent.glob("*.damaged*"))) == n + 1


def test_damaged_stored_copy_counts_as_none(finished):
    _damage(finished["paths"][0], "empty")
    _damage(_stored(finished, 0), "truncated")
    lines = store.repair_references(finished["batch"], finished["paths"], EMT, finished["store"])
    assert "no intact copy" in lines[0]


def test_dry_run_changes_nothing(finished):
    path = finished["paths"][1]
    _damage(path, "truncated")
    before = path.read_bytes(), path.stat().st_mtime_ns
    lines = store.repair_references(finished["batch"], finished["paths"], EMT, finished["store"],
                                    dry_run=True)
    assert len(lines) == 1 and lines[0].endswith(f": a run restores it from "
                                                 f"{_stored(finished, 1)}")
    _stored(finished, 1).unlink()
    lines = store.repair_references(finished["batch"], finished["paths"], EMT, finished["store"],
                                    dry_run=True)
    assert lines[0].endswith(": a run computes it again")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not list(path.parent.glob("*.damaged*"))


def test_whole_and_missing_results_are_left_alone(finished):
    """Nothing to do: the batch is not even read (a missing result is compute_reference's)."""
    finished["paths"][0].unlink()
    before = finished["paths"][1].stat().st_mtime_ns
    missing_batch = finished["folder"] / "no-batch.extxyz"
    assert store.repair_references(missing_batch, finished["paths"], EMT,
                                   finished["store"]) == []
    assert finished["paths"][1].stat().st_mtime_ns == before
    assert not finished["paths"][0].exists()


@pytest.mark.parametrize("name", ["config.yaml", "gpaw-cuag38.yaml"])
def test_workflow_and_job_agree_on_the_key(name):
    """The workflow repairs results with the key compute_reference stores them under:
    calculator_settings of the validated config (workflow/rules/common.smk) and the job's
    settings from the rule's params (workflow/rules/reference.smk)."""
    config = validate(yaml.safe_load((REPO / "config" / name).read_text()))
    workflow = calculator_settings(config["reference"])
    params = {key: config[key] for key in ("elements", "composition", "cluster")}
    launcher = {"resources": {"launcher": config["reference"]["resources"]["launcher"]}}
    job = Campaign.from_params({**params, "reference": workflow | launcher})
    atoms = cluster()
    assert (store.calculation_key(atoms, job.settings.reference_dict())
            == store.calculation_key(atoms, workflow))


def test_rewriting_a_result_removes_what_a_killed_writer_left(tmp_path):
    """A SIGKILL between the temporary file and the rename leaves ``.<name>.<pid>.tmp``; the
    next write of that file removes it (strata.atomic.replacing)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "references" / "000.extxyz"
    path.parent.mkdir()
    leftover = path.with_name(f".000.extxyz.{gone.pid}.tmp")
    leftover.write_text("half a result")
    other = path.with_name(f".001.extxyz.{gone.pid}.tmp")
    other.write_text("another file's")
    result, _ = store.compute_cached(cluster(), EMT, tmp_path / "calculations")
    write_result(result, path)
    assert sorted(p.name for p in path.parent.iterdir()) == [other.name, "000.extxyz"]
