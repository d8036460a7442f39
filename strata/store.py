"""The calculation store: the same atoms with the same settings are never computed twice.

A store is a folder (``results/calculations``) of successful results named by
:func:`calculation_key`, the SHA-256 of the atoms and the calculator settings. One calculation
runs at a time per key (an ``flock`` on ``.{key}.lock``), so a job left running by a killed
Snakemake and its rerun do not both compute it.

A relaxation writes its trajectory beside its result (``{key}.traj``, :func:`trajectory_path`)
step by step; a relaxation killed by a wall-time limit resumes from it on the rerun.

Every calculation actually run (not taken from the store) appends one line to the store's
ledger ``ledger.tsv`` (``O_APPEND``, one ``write`` per line: safe across parallel jobs), so a
campaign can count its real reference calculations.

A damaged reference result file (``results/round_NN/references/III.extxyz`` truncated by a full
disk or an interrupted copy) is made whole by :func:`repair_references` before any job reads
it: restored from the store, or set aside so that its job computes it again.
"""

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from ase.parallel import broadcast, world

from strata.files import one_line, read_result, read_structures, write_result
from strata.reference import compute

LEDGER_NAME = "ledger.tsv"
LEDGER_COLUMNS = ("key", "structure_id", "status", "attempts", "wall_time", "pid")
#: suffix of a damaged result file set aside (:func:`repair_references`)
DAMAGED = ".damaged"


def calculation_key(atoms, settings):
    """The key of one calculation in the store.

    Parameters
    ----------
    atoms : ase.Atoms
        Only its numbers and positions (to 1e-6 Å) count, not its ``info``.
    settings : dict
        From :func:`strata.calculators.calculator_settings`.

    Returns
    -------
    str
        SHA-256 hex digest.
    """
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.positions, 6).astype(np.float64).tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def trajectory_path(store, atoms, settings):
    """The relaxation trajectory of a calculation, written as the relaxation goes and kept
    with its result, so that a killed relaxation resumes from it.

    Keyed by the calculation without its step budget (``relax.steps``, ``relax.unconverged``):
    a relaxation that ran out of steps resumes when they are raised.
    """
    relax = {k: v for k, v in settings["relax"].items() if k not in ("steps", "unconverged")}
    return Path(store) / f"{calculation_key(atoms, dict(settings, relax=relax))}.traj"


def _append_ledger(store, key, result):
    """One line per calculation actually run, appended with ``O_APPEND`` (rank 0 only)."""
    if world.rank != 0:
        return
    info = result.info
    fields = (key, info.get("structure_id", ""), info["status"], info.get("attempts", ""),
              info.get("wall_time", ""), os.getpid())
    line = "\t".join(one_line(f) for f in fields) + "\n"
    Path(store).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(store) / LEDGER_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_ledger(store):
    """The ledger of a store.

    Parameters
    ----------
    store : path-like
        The store folder.

    Returns
    -------
    list of dict
        One dict per calculation run, keyed by :data:`LEDGER_COLUMNS`; [] when none.
    """
    path = Path(store) / LEDGER_NAME
    if not path.exists():
        return []
    return [dict(zip(LEDGER_COLUMNS, line.split("\t"), strict=True))
            for line in path.read_text().splitlines() if line]


def _read_stored(path):
    """A stored successful result, or None when missing or unreadable (then recomputed)."""
    if not path.exists():
        return None
    try:
        result = read_result(path)
        result.get_potential_energy()
    except Exception:  # a store file damaged by a crash of the machine: compute again
        return None
    return result if result.info.get("status") == "ok" else None


@contextlib.contextmanager
def _calculation_lock(store, key):
    """Exclusive ``flock`` on ``store/.key.lock`` (rank 0) while one calculation runs.

    A job left running by a killed Snakemake and its rerun then never compute the same thing
    twice: the second waits and takes the result from the store. The kernel releases the lock
    when its process dies, so a kill never leaves a stale lock behind.
    """
    if world.rank != 0:
        yield
        return
    Path(store).mkdir(parents=True, exist_ok=True)
    fd = os.open(Path(store) / f".{key}.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def compute_cached(atoms, settings, store, txt=None):
    """:func:`strata.reference.compute`, unless the store already holds this calculation.

    Only successful results are stored: a failed one is computed again next time (the
    failure may have been the machine's).

    Parameters
    ----------
    atoms : ase.Atoms
        The structure; its ``info`` labels the result, stored or not.
    settings : dict
        From :func:`strata.calculators.calculator_settings`.
    store : path-like
        The store folder (created when missing).
    txt : str or None
        Calculator log file (GPAW).

    Returns
    -------
    tuple[ase.Atoms, bool]
        The result and whether it was computed now.
    """
    key = calculation_key(atoms, settings)
    stored = Path(store) / f"{key}.extxyz"
    with _calculation_lock(store, key):
        # rank 0 decides, so that every MPI rank takes the same branch
        found = broadcast(stored.exists() and _read_stored(stored) is not None
                          if world.rank == 0 else None, root=0)
        if found:
            result = read_result(stored)
            result.info.update(atoms.info)
            return result, False
        result = compute(atoms, settings, txt=txt,
                         trajectory=trajectory_path(store, atoms, settings))
        if result.info["status"] == "ok":
            write_result(result, stored)
        _append_ledger(store, key, result)
    return result, True


# ----------------------------------------------------------------------------- damaged results

def result_problem(path):
    """What is wrong with a reference result file, or None when it is whole.

    Whole: it reads as extended XYZ, has a ``status``, and a finite energy when ``status`` is
    ``ok`` (a failed result is whole: it records its reason).

    Parameters
    ----------
    path : path-like
        An existing result file (:func:`strata.files.write_result`).

    Returns
    -------
    str or None
        E.g. ``"XYZError: ase.io.extxyz: Frame has 26 atoms, expected 55"``, ``"empty file"``.
    """
    if Path(path).stat().st_size == 0:
        return "empty file"
    try:
        result = read_result(path)
        if "status" not in result.info:
            return "no status"
        ok = result.info["status"] != "ok" or np.isfinite(result.get_potential_energy())
    except Exception as error:  # whatever a damaged file makes ASE raise
        return one_line(f"{type(error).__name__}: {error}")[:160]
    return None if ok else "no finite energy"


def _set_aside(path):
    """Rename a damaged file to a new ``<name>.damaged[.N]`` beside it; the new path."""
    aside, n = path.with_name(path.name + DAMAGED), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}{DAMAGED}.{n}")
    path.replace(aside)
    return aside


def _repair(path, problem, atoms, settings, store, batch_mtime, dry_run):
    """Restore one damaged result from the store, or set it aside; the log line."""
    path, stored = Path(path), Path(store) / f"{calculation_key(atoms, settings)}.extxyz"
    result = _read_stored(stored)
    what = f"damaged result {path} ({problem})"
    if result is None:
        if dry_run:
            return f"{what}, no intact copy in {store}: a run computes it again"
        aside = _set_aside(path)
        return f"{what}, no intact copy in {store}: set aside as {aside.name}, computed again"
    if dry_run:
        return f"{what}: a run restores it from {stored}"
    result.info.update(atoms.info)  # as compute_cached labels a stored result
    write_result(result, path)
    # as old as the calculation it holds: what was made from the intact file stays up to date
    mtime = max(stored.stat().st_mtime_ns, batch_mtime)
    os.utime(path, ns=(mtime, mtime))
    return f"{what}: restored from {stored}"


def repair_references(batch, paths, settings, store, dry_run=False):
    """Make the damaged reference result files of one batch whole, before anything reads them.

    A damaged file (:func:`result_problem`) is restored from the store when it holds the
    calculation (keyed by the batch structure and ``settings``), with the time of the stored
    copy (never older than the batch), so that Snakemake reruns nothing made from the intact
    file. Without a stored copy it is set aside (renamed ``III.extxyz.damaged``, then
    ``.damaged.2`` …): the workflow's ``gather_references`` takes the set-aside files as an
    input, so a new one makes it run, and Snakemake first runs ``compute_reference`` for its
    missing input (then whatever depends on that result). Missing files are left to
    Snakemake.

    Parameters
    ----------
    batch : path-like
        The batch file (``results/round_NN/batch.extxyz``).
    paths : dict of int to path-like
        Batch index → its result file (``results/round_NN/references/III.extxyz``).
    settings : dict
        From :func:`strata.calculators.calculator_settings`.
    store : path-like
        The store folder.
    dry_run : bool
        Change nothing, only say what a run would do.

    Returns
    -------
    list of str
        One log line per damaged file.
    """
    problems = {index: problem for index, path in paths.items()
                if Path(path).exists() and (problem := result_problem(path))}
    if not problems:
        return []
    structures = read_structures(batch)
    batch_mtime = Path(batch).stat().st_mtime_ns
    return [_repair(paths[index], problem, structures[index], settings, store, batch_mtime,
                    dry_run) for index, problem in problems.items()]
