"""One reference calculation: results, failures recorded and retried, the command line."""

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT as AseEMT
from ase.io import read, write
from conftest import EMT, GPAW, cluster
from hypothesis import given, settings
from hypothesis import strategies as st

from strata import reference, store
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
    relax = dict(EMT, relax={"enabled": True, "fmax": 0.05, "steps": 200})
    start = cluster(lattice_constant=4.2)
    result = reference.compute(start, relax)
    assert result.info["status"] == "ok" and result.info["relax_steps"] > 0
    assert np.abs(result.get_forces()).max() < 0.05
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
