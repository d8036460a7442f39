"""Run one reference calculation on several cores with MPI.

A reference job with ``tasks > 1`` starts the reference entry point on every MPI rank::

    mpirun --allow-run-as-root --oversubscribe -np 4 python -m strata.reference \
        in.extxyz out.extxyz settings.json
    srun --ntasks 4 --mpi=pmix python -m strata.reference ...     # inside a SLURM allocation

Every rank reads the input structure and runs the calculation (GPAW parallelises it over the
ranks); only rank 0 writes files.

GPAW 26 facts (measured with the Debian 12 OpenMPI 4.1.4 build): plain ``python`` under
``mpirun`` stops with "GPAW appears to be running inside MPI launcher, but MPI parallelism is
disabled" unless ``GPAW_MPI_BACKEND=cgpaw`` (or ``mpi4py``) is set or the script is started with
``gpaw python``. :func:`mpi_env` sets the variable, so plain ``python -m`` works and
``ase.parallel.world`` then is the same communicator as ``gpaw.mpi.world``.
"""

import os

LAUNCHERS = ("mpirun", "srun")


def launcher_command(launcher, tasks):
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


def mpi_env(base=None):
    """Return the environment for GPAW under an MPI launcher (``GPAW_MPI_BACKEND=cgpaw``).

    Parameters
    ----------
    base : mapping, optional
        Environment to start from (default: this process's).
    """
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


def compute_in_ranks(atoms, settings, launcher, tasks, workdir, store=None, txt=None):
    """The reference result of ``atoms`` computed by ``python -m strata.reference`` on
    ``tasks`` MPI ranks (started with ``launcher``), through the calculation store if given.

    The structure, the settings and the result pass through files in ``workdir``.

    Returns
    -------
    ase.Atoms
        The result, as rank 0 wrote it.
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    from ase.io import write

    from strata.files import read_result

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    write(work / "structure.extxyz", atoms, format="extxyz")
    (work / "settings.json").write_text(json.dumps(settings))
    command = launcher_command(launcher, tasks) + [
        sys.executable, "-m", "strata.reference", str(work / "structure.extxyz"),
        str(work / "result.extxyz"), str(work / "settings.json"),
        *(["--store", str(store)] if store else []), *(["--txt", str(txt)] if txt else []),
    ]
    subprocess.run(command, check=True, env=mpi_env())
    return read_result(work / "result.extxyz")
