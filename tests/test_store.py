"""The calculation store: keys, computed once, failures not stored, ledger, lock."""

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from conftest import EMT, GPAW, cluster

from strata import reference, store
from strata.clusters import build_template
from strata.files import read_result, write_result


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
    assert sum(computed for computed, _ in outcomes) == len(ledger) >= 7
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


def _slow_same_job(calculations):
    """Both workers ask for the same calculation; computing it takes a second."""
    import time

    real = store.compute

    def slow(atoms, settings, txt=None):
        time.sleep(1.0)
        return real(atoms, settings, txt=txt)

    store.compute = slow
    _, computed = store.compute_cached(cluster(), EMT, calculations)
    return computed


def test_same_calculation_in_two_jobs_runs_once(tmp_path):
    """A job orphaned by a killed Snakemake and its rerun: the second waits for the first."""
    calculations = str(tmp_path / "calculations")
    with ProcessPoolExecutor(2) as pool:
        computed = list(pool.map(_slow_same_job, [calculations, calculations]))
    assert sorted(computed) == [False, True]
    assert len(store.read_ledger(calculations)) == 1
