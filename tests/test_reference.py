"""One reference calculation: results, failures recorded and retried, the command line."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from ase.calculators.emt import EMT as AseEMT
from ase.cluster import Octahedron
from ase.db import connect
from ase.io import read, write
from conftest import EMT, GPAW, cluster
from hypothesis import given, settings
from hypothesis import strategies as st

from strata import database, reference, store
from strata.files import one_line, read_result, write_result


def test_emt_result_round_trips(tmp_path):
    result = reference.compute(cluster(), EMT)
    assert result.info["status"] == "ok" and result.info["attempts"] == 1
    assert result.info["reason"] == ""
    path = tmp_path / "r.extxyz"
    write_result(result, path)
    back = read_result(path)
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
    write_result(atoms, path)
    back = read_result(path)
    assert back.info["calculator"] == "gpaw"
    assert back.info["structure_id"] == "r00-000"
    assert back.info["reason"] == one_line("attempt 1: " + text)


def test_relaxation_moves_the_atoms_and_counts_steps():
    relax = dict(EMT, relax=dict(EMT["relax"], enabled=True))
    start = cluster(lattice_constant=4.2)
    result = reference.compute(start, relax)
    assert result.info["status"] == "ok" and result.info["relax_steps"] > 0
    assert result.info["relax_converged"] and result.info["relax_resumed_from"] == 0
    assert result.info["fmax"] == pytest.approx(reference._max_force(result.get_forces()),
                                                abs=1e-6) and result.info["fmax"] < 0.05
    assert np.abs(result.positions - start.positions).max() > 1e-3


@pytest.mark.parametrize("settings_", [EMT, GPAW], ids=["emt", "gpaw"])
def test_injected_fault_is_recorded_not_raised(tmp_path, inject_fault, settings_):
    inject_fault()
    result = reference.compute(cluster(), settings_)
    assert result.info["status"] == "failed"
    assert result.info["attempts"] == 1  # an injected fault is not retried, even for GPAW
    assert "InjectedFault" in result.info["reason"]
    assert reference.FAULT_ENV in result.info["reason"]
    assert result.calc is None
    write_result(result, tmp_path / "f.extxyz")
    back = read_result(tmp_path / "f.extxyz")
    assert back.info["status"] == "failed" and "InjectedFault" in back.info["reason"]


def test_fault_by_structure_id(inject_fault):
    inject_fault("r01-*, r00-00[0-1]")
    statuses = {}
    for structure in ("r00-000", "r00-001", "r00-002", "r01-007"):
        atoms = cluster()
        atoms.info["structure_id"] = structure
        statuses[structure] = reference.compute(atoms, EMT).info["status"]
    assert statuses == {"r00-000": "failed", "r00-001": "failed", "r00-002": "ok",
                        "r01-007": "failed"}


def test_no_fault_without_the_environment_variable(monkeypatch):
    monkeypatch.delenv(reference.FAULT_ENV, raising=False)
    assert reference.compute(cluster(), EMT).info["status"] == "ok"
    monkeypatch.setenv(reference.FAULT_ENV, " , ")
    assert reference.compute(cluster(), EMT).info["status"] == "ok"


class Flaky:
    """Stands in for make_calculator (``calculator=``): the first ones raise, then it works."""

    def __init__(self, fail_times):
        self.calls, self.fail_times = [], fail_times

    def __call__(self, settings, txt=None, safer=False):
        from ase.calculators.emt import EMT as EMTCalculator

        self.calls.append(safer)
        if len(self.calls) <= self.fail_times:
            raise RuntimeError("SCF exploded")
        return EMTCalculator()


def test_gpaw_failure_is_retried_with_safer_settings():
    flaky = Flaky(fail_times=1)
    result = reference.compute(cluster(), GPAW, calculator=flaky)
    assert flaky.calls == [False, True]
    assert result.info["status"] == "ok" and result.info["attempts"] == 2
    assert result.info["reason"].startswith("recovered after attempt 1: RuntimeError")


def test_gpaw_failure_twice_is_recorded():
    result = reference.compute(cluster(), GPAW, calculator=Flaky(fail_times=5))
    assert result.info["status"] == "failed" and result.info["attempts"] == 2
    assert result.info["reason"] == (
        "attempt 1: RuntimeError SCF exploded | attempt 2: RuntimeError SCF exploded")


def test_emt_failure_is_not_retried():
    flaky = Flaky(fail_times=5)
    assert reference.compute(cluster(), EMT, calculator=flaky).info["status"] == "failed"
    assert flaky.calls == [False]


def test_non_finite_energy_is_a_failure(monkeypatch):
    monkeypatch.setattr(reference, "_run", lambda atoms, *_: (
        {"energy": float("nan"), "forces": np.zeros((len(atoms), 3))}, {}))
    result = reference.compute(cluster(), EMT)
    assert result.info["status"] == "failed" and "non-finite" in result.info["reason"]


def test_command_line_runs_one_calculation(tmp_path):
    write(tmp_path / "in.extxyz", cluster(), format="extxyz")
    (tmp_path / "settings.json").write_text(json.dumps(EMT))
    assert reference.main([str(tmp_path / "in.extxyz"), str(tmp_path / "out.extxyz"),
                           str(tmp_path / "settings.json"), "--store",
                           str(tmp_path / "store")]) == 0
    assert read_result(tmp_path / "out.extxyz").info["status"] == "ok"
    assert len(store.read_ledger(tmp_path / "store")) == 1


def test_command_line_without_store_computes_directly(tmp_path):
    write(tmp_path / "in.extxyz", cluster(), format="extxyz")
    (tmp_path / "settings.json").write_text(json.dumps(EMT))
    assert reference.main([str(tmp_path / "in.extxyz"), str(tmp_path / "out.extxyz"),
                           str(tmp_path / "settings.json")]) == 0
    back = read_result(tmp_path / "out.extxyz")
    assert back.info["status"] == "ok"
    bare = read(tmp_path / "in.extxyz")  # positions as written; ASE's EMT, not Strata's job
    bare.calc = AseEMT()
    assert back.get_potential_energy() == pytest.approx(bare.get_potential_energy(), abs=1e-9)
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_gpaw_scf_that_does_not_converge_is_retried_then_failed(tmp_path):
    """Real GPAW LCAO, maxiter 2: both attempts fail, the reason names the SCF budget."""
    settings_ = {**GPAW, "gpaw": {**GPAW["gpaw"], "maxiter": 2}}
    txt = tmp_path / "gpaw.txt"
    result, computed = store.compute_cached(cluster("Cu", 3.6), settings_,
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
    assert store.read_ledger(tmp_path / "store")[0]["status"] == "failed"


# ------------------------------------------------------------------- relaxations that resume

RELAX = dict(EMT, relax=dict(EMT["relax"], enabled=True, fmax=0.01))


def mismatched():
    """Cu8Ag5 on a Cu icosahedron: the size mismatch makes a relaxation of ~20 BFGS steps."""
    atoms = cluster("Cu")
    atoms.symbols[[0, 3, 5, 7, 9]] = "Ag"
    return atoms


def reference_job(tmp_path, atoms, settings_, env=None):
    """The reference job's command line (through the store), as the workflow runs it."""
    write(tmp_path / "in.extxyz", atoms, format="extxyz")
    (tmp_path / "settings.json").write_text(json.dumps(settings_))
    command = [sys.executable, "-m", "strata.reference", str(tmp_path / "in.extxyz"),
               str(tmp_path / "out.extxyz"), str(tmp_path / "settings.json"),
               "--store", str(tmp_path / "store")]
    return subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.mark.parametrize("damaged_tail", [False, True], ids=["whole", "damaged-tail"])
def test_killed_relaxation_resumes_from_its_trajectory(tmp_path, damaged_tail):
    """SIGKILL at step 6 (a wall-time limit); the rerun goes on from the last whole frame of
    the trajectory, with the Hessian replayed: the same path as an uninterrupted run."""
    atoms = mismatched()
    uninterrupted = reference.compute(atoms, RELAX)
    killed = reference_job(tmp_path, atoms, RELAX, {reference.KILL_ENV: "6"})
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "out.extxyz").exists() and not store.read_ledger(tmp_path / "store")
    trajectory = store.trajectory_path(tmp_path / "store", atoms, RELAX)
    assert len(read(trajectory, index=":")) == 7  # the start and 6 steps, each as it was done
    resumed_from = 6
    if damaged_tail:  # killed while writing a frame: the cut frame is dropped
        os.truncate(trajectory, trajectory.stat().st_size - 200)
        resumed_from = 5
    rerun = reference_job(tmp_path, atoms, RELAX)
    assert rerun.returncode == 0, rerun.stderr
    result = read_result(tmp_path / "out.extxyz")
    assert result.info["relax_resumed_from"] == resumed_from
    assert result.info["relax_steps"] == uninterrupted.info["relax_steps"] > resumed_from
    assert result.info["relax_converged"] and result.info["fmax"] < 0.01
    assert result.get_potential_energy() == pytest.approx(
        uninterrupted.get_potential_energy(), abs=1e-8)
    assert np.abs(result.positions - uninterrupted.positions).max() < 1e-6
    assert len(read(trajectory, index=":")) == result.info["relax_steps"] + 1


def test_unconverged_relaxation_is_recorded_as_such(tmp_path):
    """Out of steps above fmax: ``use`` labels it with relax_converged false; ``fail`` makes
    it a failed calculation, which resumes from its trajectory once the steps are raised."""
    few = dict(RELAX, relax=dict(RELAX["relax"], steps=3))
    used = reference.compute(mismatched(), few)
    assert used.info["status"] == "ok" and used.info["relax_steps"] == 3
    assert used.info["relax_converged"] is False and used.info["fmax"] > 0.01
    strict = dict(few, relax=dict(few["relax"], unconverged="fail"))
    failed, _ = store.compute_cached(mismatched(), strict, tmp_path)
    assert failed.info["status"] == "failed" and failed.info["attempts"] == 1
    assert "relaxation not converged in 3 steps" in failed.info["reason"]
    assert not list(tmp_path.glob("*.extxyz"))  # a failure is not stored
    more = dict(strict, relax=dict(strict["relax"], steps=200))
    done, computed = store.compute_cached(mismatched(), more, tmp_path)
    assert computed and done.info["status"] == "ok" and done.info["relax_converged"]
    assert done.info["relax_resumed_from"] == 3


def test_emt_prerelaxation_leaves_the_reference_relaxation_little_to_do():
    prerelaxed = reference.compute(mismatched(), dict(RELAX, prerelax=dict(
        RELAX["prerelax"], calculator="emt", fmax=0.01)))
    plain = reference.compute(mismatched(), RELAX)
    assert prerelaxed.info["prerelax_steps"] > 10 and plain.info["prerelax_steps"] == 0
    assert prerelaxed.info["relax_steps"] <= 1 < plain.info["relax_steps"]
    assert prerelaxed.get_potential_energy() == pytest.approx(plain.get_potential_energy(),
                                                             abs=1e-3)


def test_emt_prerelaxation_before_a_single_point_moves_the_atoms():
    result = reference.compute(mismatched(), dict(EMT, prerelax=dict(EMT["prerelax"],
                                                                    calculator="emt")))
    assert result.info["prerelax_steps"] > 0 and result.info["fmax"] < 0.05
    assert "relax_steps" not in result.info  # no reference relaxation was asked for
    assert result.get_potential_energy() < reference.compute(mismatched(), EMT
                                                             ).get_potential_energy()


@pytest.mark.slow
def test_gpaw_relaxation_is_killed_and_resumes(tmp_path):
    """A real GPAW relaxation of Cu4Ag2, killed after step 2 and resumed by the rerun."""
    atoms = Octahedron("Cu", 2)
    atoms.symbols[:2] = "Ag"
    atoms.info.update(structure_id="r00-000", template=0)
    settings_ = dict(GPAW, relax=dict(GPAW["relax"], enabled=True, fmax=0.1, steps=30))
    killed = reference_job(tmp_path, atoms, settings_, {reference.KILL_ENV: "2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = reference_job(tmp_path, atoms, settings_)
    assert rerun.returncode == 0, rerun.stderr
    result = read_result(tmp_path / "out.extxyz")
    assert result.info["relax_resumed_from"] == 2 and result.info["relax_converged"]
    assert result.info["relax_steps"] > 2 and result.info["fmax"] < 0.1
    frames = read(store.trajectory_path(tmp_path / "store", atoms, settings_), index=":")
    assert len(frames) == result.info["relax_steps"] + 1
    assert frames[-1].get_potential_energy() == pytest.approx(result.get_potential_energy())


@pytest.mark.slow
def test_gpaw_spin_polarised_moments_reach_the_result_and_the_database(tmp_path):
    """Ni4Cu2 with spinpol: Ni starts at the default 1 μB, Cu at 0; the final moments are in
    the result file and in ``references.db``."""
    atoms = Octahedron("Ni", 2)
    atoms.symbols[:2] = "Cu"
    atoms.info.update(structure_id="r00-000", template=0)
    settings_ = dict(GPAW, gpaw=dict(GPAW["gpaw"], spinpol=True))
    assert settings_["gpaw"]["magmoms"] == {"Fe": 3.0, "Co": 2.0, "Ni": 1.0}
    write_result(reference.compute(atoms, settings_), tmp_path / "r.extxyz")
    result = read_result(tmp_path / "r.extxyz")
    moments = result.get_magnetic_moments()
    assert result.info["status"] == "ok" and moments[2:].min() > 0.5  # Ni stays magnetic
    assert np.abs(moments[:2]).max() < moments[2:].min()
    assert result.get_magnetic_moment() > moments.sum() > 4.0  # + the interstitial moment
    database.gather([tmp_path / "r.extxyz"], tmp_path / "references.db")
    row = connect(tmp_path / "references.db").get(1)
    assert row.magmom == pytest.approx(result.get_magnetic_moment())
    assert np.allclose(row.magmoms, moments)
    # without spinpol no moments are claimed
    plain = reference.compute(atoms, GPAW)
    assert "magmoms" not in plain.calc.results
