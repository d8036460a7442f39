"""Run one reference calculation on several cores with MPI.

A reference job with ``tasks > 1`` starts the same Python entry point on every MPI rank::

    mpirun --allow-run-as-root --oversubscribe -np 4 python -m strata.mpi \
        strata.reference:compute in.extxyz out.extxyz settings.json
    srun --ntasks 4 --mpi=pmix python -m strata.mpi ...       # inside a SLURM allocation

Every rank reads the input structure and calls the compute function (GPAW parallelises the
calculation over the ranks); only rank 0 writes the output file.

GPAW 26 facts (measured with the Debian 12 OpenMPI 4.1.4 build): plain ``python`` under
``mpirun`` stops with "GPAW appears to be running inside MPI launcher, but MPI parallelism is
disabled" unless ``GPAW_MPI_BACKEND=cgpaw`` (or ``mpi4py``) is set or the script is started with
``gpaw python``. :func:`mpi_env` sets the variable, so plain ``python -m`` works and
``ase.parallel.world`` then is the same communicator as ``gpaw.mpi.world``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LAUNCHERS = ("mpirun", "srun")
#: compute function used when none is named (``module:function``, called as f(atoms, settings)).
#: Swap to ``"strata.reference:compute"`` once the reference module exists.
DEFAULT_COMPUTE = "strata.mpi:gpaw_single_point"


def launcher_command(launcher: str, tasks: int) -> list[str]:
    """Return the command prefix that starts ``tasks`` MPI ranks.

    Parameters
    ----------
    launcher : {"mpirun", "srun"}
        ``mpirun`` (OpenMPI 4: on a workstation, or inside a SLURM allocation where it
        takes the host list from SLURM) or ``srun`` (inside a SLURM job only; uses PMIx,
        which Debian 12's SLURM and OpenMPI both support).
    tasks : int
        Number of MPI ranks, at least 1.

    Returns
    -------
    list of str
        Prefix to put before ``python -m ...``.
    """
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be a positive integer, got {tasks!r}")
    if launcher == "mpirun":
        # --oversubscribe: allow more ranks than detected slots (CI machines, hyperthreads).
        # --allow-run-as-root: OpenMPI refuses root otherwise (containers, CI).
        return ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(tasks)]
    if launcher == "srun":
        # --mpi=pmix: Debian's OpenMPI is a PMIx client; SLURM's default MpiDefault may be none.
        return ["srun", "--ntasks", str(tasks), "--mpi=pmix"]
    raise ValueError(f"unknown MPI launcher {launcher!r}; expected one of {LAUNCHERS}")


def mpi_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for GPAW under an MPI launcher (``GPAW_MPI_BACKEND=cgpaw``)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("GPAW_MPI_BACKEND", "cgpaw")
    # OpenMPI's equivalent of --allow-run-as-root, for launchers that do not take the flag.
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # Inside a Snakemake SLURM job the jobstep plugin strips SLURM_* except SLURM_JOB_ID;
    # OpenMPI then detects SLURM but finds no SLURM_NODELIST and aborts ("ras_base_allocate").
    # Run the ranks on this node without asking SLURM (single-node jobs; use srun for more).
    if "SLURM_JOB_ID" in env and "SLURM_NODELIST" not in env:
        env.setdefault("OMPI_MCA_ras", "^slurm")
        env.setdefault("OMPI_MCA_plm", "^slurm")
        env.setdefault("OMPI_MCA_ess", "^slurm")
    # One thread per rank: BLAS threads would oversubscribe the cores given to the ranks.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def entry_point_command(
    args: Sequence[str],
    tasks: int = 1,
    launcher: str = "mpirun",
    compute: str = DEFAULT_COMPUTE,
    python: str | None = None,
) -> list[str]:
    """Return the command that runs ``python -m strata.mpi compute *args`` on ``tasks`` ranks.

    With ``tasks == 1`` no launcher is used (a serial run in the current allocation).
    """
    cmd = [python or sys.executable, "-m", "strata.mpi", compute, *map(str, args)]
    return cmd if tasks == 1 else launcher_command(launcher, tasks) + cmd


def run_entry_point(
    args: Sequence[str],
    tasks: int = 1,
    launcher: str = "mpirun",
    compute: str = DEFAULT_COMPUTE,
    timeout: float | None = None,
    cwd: str | os.PathLike | None = None,
) -> subprocess.CompletedProcess:
    """Run :func:`main` on ``tasks`` ranks and wait; raise ``RuntimeError`` on failure."""
    cmd = entry_point_command(args, tasks=tasks, launcher=launcher, compute=compute)
    proc = subprocess.run(
        cmd, env=mpi_env(), timeout=timeout, cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return proc


def init_world():
    """Initialise MPI through GPAW, then return the communicator shared by GPAW and ASE.

    Must run before any ASE I/O: ``ase.io.read`` fixes ``ase.parallel.world`` on first use, and
    if GPAW's MPI module is not imported yet ASE settles on a serial world; GPAW then stops with
    'Please use "gpaw python" to run in parallel'. Size 1 when not under an MPI launcher.
    """
    try:
        import gpaw.mpi  # noqa: F401  (imports _gpaw/mpi4py so ASE picks the MPI world)
    except ImportError:
        pass
    from ase.parallel import world as ase_world

    return ase_world


def world():
    """Return the MPI communicator shared by GPAW and ASE (see :func:`init_world`)."""
    return init_world()


def is_master() -> bool:
    """True on rank 0, the only rank allowed to write files."""
    return world().rank == 0


def load_function(spec: str) -> Callable:
    """Import ``"package.module:function"`` and return the function."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"expected 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module), name)


def gpaw_single_point(atoms, settings: Mapping):
    """One GPAW single point; ``settings`` are GPAW keyword arguments (``mode`` as a string).

    Stand-in for ``strata.reference.compute`` until that exists; returns ``atoms`` with a
    single-point calculator holding energy and forces.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from gpaw import GPAW

    kwargs = {"txt": None, **settings}
    atoms = atoms.copy()
    atoms.calc = GPAW(**kwargs)
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def write_atomically(path: str | os.PathLike, atoms) -> None:
    """Write ``atoms`` as extended XYZ on rank 0 only, through a temporary file and rename."""
    import ase.io

    if not is_master():
        return
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    ase.io.write(tmp, atoms, format="extxyz")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m strata.mpi MODULE:FUNCTION in.extxyz out.extxyz settings.json``."""
    import ase.io

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 4:
        print(main.__doc__, file=sys.stderr)
        return 2
    spec, src, dst, settings_path = argv
    init_world()
    compute = load_function(spec)
    settings = json.loads(Path(settings_path).read_text())
    atoms = ase.io.read(src, format="extxyz")
    result = compute(atoms, settings)
    write_atomically(dst, result)
    world().barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
