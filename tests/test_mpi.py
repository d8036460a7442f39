"""GPAW under MPI: one real LCAO single point on 2 ranks equals the serial one."""

import json
import shutil

import ase.io
import pytest
from ase.cluster import Icosahedron

from strata import mpi

# The compute function run on every rank. Swap to "strata.reference:compute" (with the reference
# settings of the config) once strata/reference.py exists: the only line to change.
COMPUTE = mpi.DEFAULT_COMPUTE
SETTINGS = {
    "mode": "lcao",
    "basis": "dzp",
    "xc": "PBE",
    "h": 0.25,
    "occupations": {"name": "fermi-dirac", "width": 0.1},
    "convergence": {"energy": 1e-6},
}


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


def test_entry_point_serial_has_no_launcher():
    cmd = mpi.entry_point_command(["a", "b", "c"], tasks=1)
    assert cmd[1:4] == ["-m", "strata.mpi", mpi.DEFAULT_COMPUTE]


def test_mpi_env_selects_gpaw_backend():
    assert mpi.mpi_env({})["GPAW_MPI_BACKEND"] == "cgpaw"


def _single_point(tmp_path, tasks):
    src, settings = tmp_path / "in.extxyz", tmp_path / "s.json"
    dst = tmp_path / f"out{tasks}.extxyz"
    atoms = Icosahedron("Cu", noshells=2)  # 13 atoms
    atoms.center(vacuum=4.0)
    ase.io.write(src, atoms, format="extxyz")
    settings.write_text(json.dumps(SETTINGS))
    proc = mpi.run_entry_point(
        [src, dst, settings], tasks=tasks, launcher="mpirun", compute=COMPUTE, timeout=600
    )
    assert dst.exists(), proc.stderr
    return ase.io.read(dst)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="needs mpirun (openmpi-bin)")
def test_gpaw_two_ranks_equals_serial(tmp_path):
    serial = _single_point(tmp_path, 1)
    parallel = _single_point(tmp_path, 2)
    e1, e2 = serial.get_potential_energy(), parallel.get_potential_energy()
    assert abs(e1 - e2) < 1e-4, (e1, e2)
    assert abs(serial.get_forces() - parallel.get_forces()).max() < 1e-3
    # only rank 0 wrote: no leftover temporary files from other ranks
    assert not list(tmp_path.glob(".*.tmp*"))
