"""Reference calculations: results, failures recorded and retried, the store and its ledger."""

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strata import reference
from strata.clusters import build_template

EMT = {"calculator": "emt", "relax": {"enabled": False, "fmax": 0.05, "steps": 200}}
# GPAW on a 13-atom Cu icosahedron, as small as a real LCAO calculation gets.
GPAW = {
    "calculator": "gpaw",
    "relax": {"enabled": False, "fmax": 0.05, "steps": 200},
    "gpaw": {"mode": "lcao", "basis": "szp(dzp)", "xc": "PBE", "h": 0.3, "ecut": 400,
             "vacuum": 3.0, "smearing_width": 0.1, "convergence_energy": 0.0005,
             "maxiter": 333, "spinpol": False},
}


def cluster(symbol="Pt", lattice_constant=4.0):
    """A 13-atom icosahedron labelled like a batch structure."""
    atoms = build_template("icosahedron", 2, lattice_constant, symbol=symbol)
    atoms.info.update(structure_id="r00-000", round=0, template=0, composition=f"{symbol}13",
                      origin="random")
    return atoms


def test_calculator_settings_leave_resources_out():
    section = {"calculator": "emt", "relax": EMT["relax"], "gpaw": GPAW["gpaw"],
               "resources": {"tasks": 4}, "fault": None}
    assert reference.calculator_settings(section) == EMT
    gpaw = reference.calculator_settings(dict(section, calculator="gpaw"))
    assert gpaw["gpaw"] == GPAW["gpaw"] and "resources" not in gpaw
    assert reference.calculator_settings(dict(section, fault="raise"))["fault"] == "raise"


def test_calculation_key_depends_on_atoms_and_settings_only():
    atoms = cluster()
    key = reference.calculation_key(atoms, EMT)
    moved = atoms.copy()
    moved.positions[0, 0] += 1e-3
    swapped = atoms.copy()
    swapped.symbols[0] = "Au"
    relabelled = atoms.copy()
    relabelled.info["structure_id"] = "r05-003"
    assert reference.calculation_key(relabelled, EMT) == key
    assert reference.calculation_key(atoms, dict(EMT)) == key
    assert len({key, reference.calculation_key(moved, EMT),
                reference.calculation_key(swapped, EMT),
                reference.calculation_key(atoms, GPAW)}) == 4


def test_emt_result_round_trips(tmp_path):
    result = reference.compute(cluster(), EMT)
    assert result.info["status"] == "ok" and result.info["attempts"] == 1
    assert result.info["reason"] == ""
    path = tmp_path / "r.extxyz"
    reference.write_atomically(result, path)
    back = reference.read_result(path)
    assert back.get_potential_energy() == pytest.approx(result.get_potential_energy(), abs=1e-9)
    assert back.get_forces().shape == (13, 3)
    # every key survives: an empty reason must not swallow the next key (ASE extxyz quirk)
    for key in ("structure_id", "status", "calculator", "settings", "attempts", "origin"):
        assert back.info[key] == result.info[key], key
    assert back.info["reason"] == ""
    assert not list(tmp_path.glob(".*tmp"))


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_any_reason_round_trips_on_one_line(tmp_path_factory, text):
    """A calculator's message (newlines, quotes, '=') never breaks or corrupts a result file."""
    atoms = cluster()
    atoms.info.update(status="failed", reason="attempt 1: " + text, calculator="gpaw")
    path = tmp_path_factory.mktemp("reason") / "r.extxyz"
    reference.write_atomically(atoms, path)
    back = reference.read_result(path)
    assert back.info["calculator"] == "gpaw"
    assert back.info["structure_id"] == "r00-000"
    assert back.info["reason"] == reference.one_line("attempt 1: " + text)


def test_injected_fault_is_recorded_not_raised(tmp_path):
    result = reference.compute(cluster(), dict(EMT, fault="raise"))
    assert result.info["status"] == "failed"
    assert result.info["attempts"] == 1  # an injected fault is not retried
    assert "InjectedFault" in result.info["reason"]
    assert result.calc is None
    reference.write_atomically(result, tmp_path / "f.extxyz")
    back = reference.read_result(tmp_path / "f.extxyz")
    assert back.info["status"] == "failed" and "InjectedFault" in back.info["reason"]


def test_fault_by_structure_id(monkeypatch):
    monkeypatch.setenv(reference.FAULT_ENV, "r01-*, r00-00[0-1]")
    statuses = {}
    for structure in ("r00-000", "r00-001", "r00-002", "r01-007"):
        atoms = cluster()
        atoms.info["structure_id"] = structure
        statuses[structure] = reference.compute(atoms, EMT).info["status"]
    assert statuses == {"r00-000": "failed", "r00-001": "failed", "r00-002": "ok",
                        "r01-007": "failed"}


class Flaky:
    """Stands in for make_calculator: the first calculator raises, the second works."""

    def __init__(self, fail_times):
        self.calls, self.fail_times = [], fail_times

    def __call__(self, settings, txt=None, safer=False):
        from ase.calculators.emt import EMT as EMTCalculator

        self.calls.append(safer)
        if len(self.calls) <= self.fail_times:
            raise RuntimeError("SCF exploded")
        return EMTCalculator()


def test_gpaw_failure_is_retried_with_safer_settings(monkeypatch):
    flaky = Flaky(fail_times=1)
    monkeypatch.setattr(reference, "make_calculator", flaky)
    result = reference.compute(cluster(), GPAW)
    assert flaky.calls == [False, True]
    assert result.info["status"] == "ok" and result.info["attempts"] == 2
    assert result.info["reason"].startswith("recovered after attempt 1: RuntimeError")


def test_gpaw_failure_twice_is_recorded(monkeypatch):
    monkeypatch.setattr(reference, "make_calculator", Flaky(fail_times=5))
    result = reference.compute(cluster(), GPAW)
    assert result.info["status"] == "failed" and result.info["attempts"] == 2
    assert result.info["reason"] == (
        "attempt 1: RuntimeError SCF exploded | attempt 2: RuntimeError SCF exploded")


def test_emt_failure_is_not_retried(monkeypatch):
    flaky = Flaky(fail_times=5)
    monkeypatch.setattr(reference, "make_calculator", flaky)
    assert reference.compute(cluster(), EMT).info["status"] == "failed"
    assert flaky.calls == [False]


def test_non_finite_energy_is_a_failure(monkeypatch):
    monkeypatch.setattr(reference, "_run",
                        lambda atoms, *_: (float("nan"), np.zeros((len(atoms), 3)), 0, 0))
    result = reference.compute(cluster(), EMT)
    assert result.info["status"] == "failed" and "non-finite" in result.info["reason"]


def test_safer_gpaw_calculator_has_more_iterations_and_gentle_mixer():
    first = reference.make_calculator(GPAW).parameters.todict()
    retry = reference.make_calculator(GPAW, safer=True).parameters.todict()
    assert first["maxiter"] == 333 and retry["maxiter"] == 999
    assert first.get("mixer") is None
    assert retry["mixer"]["beta"] == 0.02


def test_store_computes_once_and_ledger_counts(tmp_path):
    store = tmp_path / "calculations"
    atoms = cluster()
    first, computed = reference.compute_cached(atoms, EMT, store)
    assert computed
    again = atoms.copy()
    again.info["structure_id"] = "r03-001"
    second, computed_again = reference.compute_cached(again, EMT, store)
    assert not computed_again
    assert second.info["structure_id"] == "r03-001"  # the job's own labels, stored physics
    assert second.get_potential_energy() == pytest.approx(first.get_potential_energy(), abs=1e-9)
    ledger = reference.read_ledger(store)
    assert len(ledger) == 1
    assert ledger[0]["key"] == reference.calculation_key(atoms, EMT)
    assert ledger[0]["status"] == "ok" and ledger[0]["structure_id"] == "r00-000"


def test_failed_calculations_are_not_stored(tmp_path):
    store = tmp_path / "calculations"
    faulty = dict(EMT, fault="raise")
    for _ in range(2):
        result, computed = reference.compute_cached(cluster(), faulty, store)
        assert computed and result.info["status"] == "failed"
    assert not list(store.glob("*.extxyz"))
    assert [row["status"] for row in reference.read_ledger(store)] == ["failed", "failed"]


def test_damaged_store_file_is_computed_again(tmp_path):
    store = tmp_path / "calculations"
    atoms = cluster()
    reference.compute_cached(atoms, EMT, store)
    stored = store / f"{reference.calculation_key(atoms, EMT)}.extxyz"
    stored.write_text("13\ntruncated by a crash")
    result, computed = reference.compute_cached(atoms, EMT, store)
    assert computed and result.info["status"] == "ok"
    assert reference.read_result(stored).info["status"] == "ok"


def _cached_job(args):
    store, symbol, structure_id = args
    atoms = build_template("icosahedron", 2, 4.0, symbol=symbol)
    atoms.info["structure_id"] = structure_id
    result, computed = reference.compute_cached(atoms, EMT, store)
    return computed, os.getpid()


def test_parallel_jobs_share_store_and_ledger(tmp_path):
    """Eight processes append to one ledger: every line complete, one per calculation."""
    store = str(tmp_path / "calculations")
    jobs = [(store, symbol, f"r00-{i:03d}")
            for i, symbol in enumerate(("Pt", "Au", "Cu", "Ag", "Ni", "Pd", "Al", "Pt"))]
    with ProcessPoolExecutor(4) as pool:
        outcomes = list(pool.map(_cached_job, jobs))
    ledger = reference.read_ledger(store)
    assert sum(computed for computed, _ in outcomes) == len(ledger) >= 7
    assert all(len(row) == len(reference.LEDGER_COLUMNS) for row in ledger)
    assert len(list(tmp_path.glob("calculations/*.extxyz"))) == 7
    assert not list(tmp_path.glob("calculations/.*tmp"))


def test_command_line_runs_one_calculation(tmp_path):
    import json

    from ase.io import write

    write(tmp_path / "in.extxyz", cluster(), format="extxyz")
    (tmp_path / "settings.json").write_text(json.dumps(EMT))
    assert reference.main([str(tmp_path / "in.extxyz"), str(tmp_path / "out.extxyz"),
                           str(tmp_path / "settings.json"), "--store",
                           str(tmp_path / "store")]) == 0
    assert reference.read_result(tmp_path / "out.extxyz").info["status"] == "ok"
    assert len(reference.read_ledger(tmp_path / "store")) == 1


@pytest.mark.slow
def test_gpaw_scf_that_does_not_converge_is_retried_then_failed(tmp_path):
    """Real GPAW LCAO, maxiter 2: both attempts fail, the reason names the SCF budget."""
    settings_ = {**GPAW, "gpaw": {**GPAW["gpaw"], "maxiter": 2}}
    txt = tmp_path / "gpaw.txt"
    result, computed = reference.compute_cached(cluster("Cu", 3.6), settings_,
                                                tmp_path / "store", txt=str(txt))
    assert computed
    assert result.info["status"] == "failed" and result.info["attempts"] == 2
    reason = result.info["reason"]
    assert "attempt 1: KohnShamConvergenceError" in reason
    assert "not converged in 2 iterations" in reason
    assert "attempt 2: KohnShamConvergenceError" in reason
    assert "not converged in 6 iterations, gentle mixer" in reason
    assert txt.exists() and (tmp_path / "gpaw.attempt2.txt").exists()
    assert not list((tmp_path / "store").glob("*.extxyz"))
    assert reference.read_ledger(tmp_path / "store")[0]["status"] == "failed"


@pytest.mark.slow
def test_gpaw_single_point_through_the_store(tmp_path):
    """Real GPAW LCAO on Cu13 through compute_cached, the path of the workflow."""
    atoms = cluster("Cu", 3.6)
    result, computed = reference.compute_cached(atoms, GPAW, tmp_path / "store")
    assert computed and result.info["status"] == "ok", result.info["reason"]
    assert np.isfinite(result.get_potential_energy())
    assert result.info["scf_iterations"] > 0
    assert result.get_forces().shape == (13, 3)
    assert np.abs(result.get_forces().sum(axis=0)).max() < 0.5  # near-zero net force
    path = tmp_path / "result.extxyz"
    reference.write_atomically(result, path)
    back = reference.read_result(path)
    assert back.get_potential_energy() == pytest.approx(result.get_potential_energy())
    assert back.info["calculator"] == "gpaw" and back.info["scf_iterations"] > 0
    again, computed_again = reference.compute_cached(atoms, GPAW, tmp_path / "store")
    assert not computed_again
    assert again.get_potential_energy() == pytest.approx(result.get_potential_energy())


def _slow_same_job(store):
    """Both workers ask for the same calculation; computing it takes a second."""
    import time

    real = reference.compute

    def slow(atoms, settings, txt=None):
        time.sleep(1.0)
        return real(atoms, settings, txt=txt)

    reference.compute = slow
    _, computed = reference.compute_cached(cluster(), EMT, store)
    return computed


def test_same_calculation_in_two_jobs_runs_once(tmp_path):
    """A job orphaned by a killed Snakemake and its rerun: the second waits for the first."""
    store = str(tmp_path / "calculations")
    with ProcessPoolExecutor(2) as pool:
        computed = list(pool.map(_slow_same_job, [store, store]))
    assert sorted(computed) == [False, True]
    assert len(reference.read_ledger(store)) == 1
