"""GPAW under MPI: one real LCAO single point on 2 ranks equals the serial one.

Both runs go through the entry point the workflow's compute_reference job launches
(``python -m strata.reference``), with the settings a config's ``reference`` section gives.
"""

import shutil

import pytest

from strata import mpi
from strata.calculators import calculator_settings
from strata.clusters import build_template
from strata.config import validate
from strata.store import read_ledger


def test_launcher_command_mpirun():
    cmd = mpi.launcher_command("mpirun", 4)
    assert cmd[0] == "mpirun" and cmd[-2:] == ["-np", "4"]
    assert "--allow-run-as-root" in cmd


def test_launcher_command_srun():
    assert mpi.launcher_command("srun", 3)[:3] == ["srun", "--ntasks", "3"]


@pytest.mark.parametrize("launcher, tasks", [("mpiexec", 2), ("mpirun", 0), ("srun", 1.5)])
def test_launcher_command_rejects(launcher, tasks):
    with pytest.raises(ValueError):
        mpi.launcher_command(launcher, tasks)


def test_mpi_env_selects_gpaw_backend_and_one_thread():
    env = mpi.mpi_env({})
    assert env["GPAW_MPI_BACKEND"] == "cgpaw" and env["OMP_NUM_THREADS"] == "1"


def test_mpi_env_inside_a_stripped_slurm_job_avoids_slurm_components():
    env = mpi.mpi_env({"SLURM_JOB_ID": "7"})
    assert env["OMPI_MCA_ras"] == "^slurm"
    assert "OMPI_MCA_ras" not in mpi.mpi_env({"SLURM_JOB_ID": "7", "SLURM_NODELIST": "n1"})


def single_point(tmp_path, tasks):
    """Compute a Cu12Ag1 GPAW single point as the compute_reference job does
    (:func:`strata.mpi.compute_in_ranks`: ``python -m strata.reference`` under ``mpirun``,
    through a calculation store of its own); return the result and the store's ledger."""
    settings = calculator_settings(validate({
        "elements": ["Cu", "Ag"], "composition": {"Cu": 12, "Ag": 1}, "cluster": {"size": 2},
        "initial_size": 2,
        "reference": {"calculator": "gpaw", "gpaw": {"h": 0.25, "convergence_energy": 1e-6}},
    })["reference"])
    atoms = build_template("icosahedron", 2, 3.61, symbol="Cu")
    atoms.symbols[0] = "Ag"
    atoms.info["structure_id"] = "r00-000"
    calculations = tmp_path / f"store{tasks}"
    result = mpi.compute_in_ranks(atoms, settings, "mpirun", tasks, tmp_path / f"work{tasks}",
                                  store=calculations)
    return result, read_ledger(calculations)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun (openmpi-bin)")
def test_gpaw_two_ranks_equals_serial(tmp_path):
    serial, serial_ledger = single_point(tmp_path, 1)
    parallel, ledger = single_point(tmp_path, 2)
    assert serial.info["status"] == parallel.info["status"] == "ok", parallel.info["reason"]
    # really two ranks of one MPI world (two serial copies would also agree on the energy)
    assert (serial.info["mpi_ranks"], parallel.info["mpi_ranks"]) == (1, 2)
    e1, e2 = serial.get_potential_energy(), parallel.get_potential_energy()
    assert abs(e1 - e2) < 1e-4, (e1, e2)
    assert abs(serial.get_forces() - parallel.get_forces()).max() < 1e-3
    # the store under MPI: rank 0 alone holds the lock and writes, once
    assert len(serial_ledger) == len(ledger) == 1 and ledger[0]["status"] == "ok"
    assert len(list((tmp_path / "store2").glob("*.extxyz"))) == 1
    assert not list(tmp_path.rglob(".*.tmp"))
