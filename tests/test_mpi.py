"""GPAW under MPI: one real LCAO single point on 2 ranks equals the serial one.

Both runs go through the entry point the workflow's compute_reference job launches
(``python -m strata.reference``), with the settings a config's ``reference`` section gives.
"""

import json
import shutil
import subprocess
import sys

import pytest
from ase.io import read, write

from strata import mpi
from strata.calculators import calculator_settings
from strata.clusters import build_template
from strata.config import validate


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
    """Run ``python -m strata.reference`` serially or on ``tasks`` ranks; read the result."""
    settings = calculator_settings(validate({
        "elements": ["Cu", "Ag"], "composition": {"Cu": 12, "Ag": 1}, "cluster": {"size": 2},
        "initial_size": 2,
        "reference": {"calculator": "gpaw", "gpaw": {"h": 0.25, "convergence_energy": 1e-6}},
    })["reference"])
    structure, settings_file = tmp_path / "in.extxyz", tmp_path / "settings.json"
    write(structure, build_template("icosahedron", 2, 3.61, symbol="Cu"), format="extxyz")
    settings_file.write_text(json.dumps(settings))
    result = tmp_path / f"out{tasks}.extxyz"
    command = [sys.executable, "-m", "strata.reference", str(structure), str(result),
               str(settings_file)]
    if tasks > 1:
        command = mpi.launcher_command("mpirun", tasks) + command
    done = subprocess.run(command, env=mpi.mpi_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return read(result, format="extxyz")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun (openmpi-bin)")
def test_gpaw_two_ranks_equals_serial(tmp_path):
    serial = single_point(tmp_path, 1)
    parallel = single_point(tmp_path, 2)
    assert serial.info["status"] == parallel.info["status"] == "ok"
    e1, e2 = serial.get_potential_energy(), parallel.get_potential_energy()
    assert abs(e1 - e2) < 1e-4, (e1, e2)
    assert abs(serial.get_forces() - parallel.get_forces()).max() < 1e-3
    # only rank 0 wrote: no temporary file of another rank is left behind
    assert not list(tmp_path.glob(".*.tmp"))
