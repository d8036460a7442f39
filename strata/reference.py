"""Reference energies: one EMT or GPAW calculation per structure.

A calculation never raises for a physics failure: it returns the structure with
``info["status"] = "failed"`` and the reason, so a campaign carries on. A GPAW SCF that does not
converge is tried once more with safer settings (more iterations, a gentler density mixer).
Results are written atomically, and a content-addressed store makes sure that the same atoms
with the same calculator settings are never computed twice.

Every calculation actually run (not taken from the store) appends one line to the store's
ledger ``ledger.tsv`` (``O_APPEND``, one ``write`` per line: safe across parallel jobs), so a
campaign can count its real reference calculations.

Run under MPI as ``mpirun -np N python -m strata.reference IN OUT SETTINGS.json``.
"""

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.optimize import BFGS
from ase.parallel import broadcast, world

from strata import mpi
from strata.atomic import replacing

EMT_ELEMENTS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O")
LEDGER_NAME = "ledger.tsv"
LEDGER_COLUMNS = ("key", "structure_id", "status", "attempts", "wall_time", "pid")
# Testing only: comma-separated fnmatch patterns of structure ids whose calculation raises
# (e.g. "r00-00[0-2],r01-*"), to show that some failures are survived. Not a setting: it does
# not enter the calculation key.
FAULT_ENV = "STRATA_INJECT_FAULT"


class InjectedFault(RuntimeError):
    """Raised on purpose by the ``fault`` setting, to test that failures are survived."""


def calculator_settings(reference_config):
    """The settings that decide a reference result (and nothing else).

    Parameters
    ----------
    reference_config : dict
        The ``reference`` section of a validated campaign config.

    Returns
    -------
    dict
        ``calculator``, its own section (``gpaw`` only for GPAW) and ``relax``. Compute
        resources are left out: they change how fast, not what.
    """
    settings = {"calculator": reference_config["calculator"], "relax": reference_config["relax"]}
    if settings["calculator"] == "gpaw":
        settings["gpaw"] = reference_config["gpaw"]
    if reference_config.get("fault"):
        settings["fault"] = reference_config["fault"]
    return settings


def calculation_key(atoms, settings):
    """SHA-256 of the atoms (numbers, positions to 1e-6 Å) and the calculator settings."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.positions, 6).astype(np.float64).tobytes())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def make_calculator(settings, txt=None, safer=False):
    """A fresh calculator for one structure.

    Parameters
    ----------
    settings : dict
        From :func:`calculator_settings`.
    txt : str or None
        GPAW log file.
    safer : bool
        GPAW only: three times the SCF iterations and a gentle mixer (β = 0.02), for a retry.
    """
    if settings["calculator"] == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from gpaw import GPAW, PW, FermiDirac, Mixer

    gpaw = settings["gpaw"]
    mode = PW(gpaw["ecut"]) if gpaw["mode"] == "pw" else gpaw["mode"]
    parameters = dict(
        mode=mode,
        xc=gpaw["xc"],
        h=gpaw["h"],
        occupations=FermiDirac(gpaw["smearing_width"]),
        convergence={"energy": gpaw["convergence_energy"]},
        maxiter=gpaw["maxiter"] * (3 if safer else 1),
        spinpol=gpaw["spinpol"],
        txt=txt,
    )
    if gpaw["mode"] == "lcao":
        parameters["basis"] = gpaw["basis"]
    if safer:
        parameters["mixer"] = Mixer(beta=0.02, nmaxold=5, weight=100.0)
    return GPAW(**parameters)


def scf_iterations(calc):
    """Number of SCF iterations of the last GPAW calculation (None for EMT)."""
    for path in ("dft.scf_loop.niter", "scf.niter"):
        obj = calc
        try:
            for name in path.split("."):
                obj = getattr(obj, name)
            return int(obj)
        except (AttributeError, TypeError):
            continue
    if hasattr(calc, "get_number_of_iterations"):
        return int(calc.get_number_of_iterations())
    return None


def _prepare(atoms, settings):
    atoms = atoms.copy()
    atoms.calc = None
    if settings["calculator"] == "gpaw":
        atoms.center(vacuum=settings["gpaw"]["vacuum"])
        atoms.pbc = False
    return atoms


def one_line(text):
    """``text`` on one line (whitespace collapsed, no backslashes): safe in extended XYZ."""
    return " ".join(str(text).replace("\\", "/").split())


def _injected_fault(atoms, settings):
    """The reason a fault is injected into this calculation, or None."""
    if settings.get("fault") == "raise":
        return "fault injected by the 'reference.fault' setting"
    patterns = [p.strip() for p in os.environ.get(FAULT_ENV, "").split(",") if p.strip()]
    structure = str(atoms.info.get("structure_id", ""))
    if any(fnmatch.fnmatchcase(structure, p) for p in patterns):
        return f"fault injected for {structure} by {FAULT_ENV}"
    return None


def _failure_reason(error, settings, safer):
    """One line: the exception, with the SCF budget when GPAW did not converge."""
    message = one_line(f"{type(error).__name__} {error}")
    if type(error).__name__ == "KohnShamConvergenceError" and "gpaw" in settings:
        maxiter = settings["gpaw"]["maxiter"] * (3 if safer else 1)
        mixer = ", gentle mixer" if safer else ""
        message += f" (SCF not converged in {maxiter} iterations{mixer})"
    return message


def _attempt_txt(txt, attempt):
    """Calculator log of an attempt: ``txt`` for the first, ``….attempt2.txt`` after."""
    if txt is None or attempt == 1 or not isinstance(txt, str | Path):
        return txt
    path = Path(txt)
    return str(path.with_name(f"{path.stem}.attempt{attempt}{path.suffix}"))


def _run(atoms, settings, txt, safer):
    """Energy (and forces) of ``atoms`` with a fresh calculator; relaxes when asked."""
    fault = _injected_fault(atoms, settings)
    if fault:
        raise InjectedFault(fault)
    atoms.calc = make_calculator(settings, txt=txt, safer=safer)
    relax = settings["relax"]
    steps = 0
    if relax["enabled"]:
        optimizer = BFGS(atoms, logfile=None)
        optimizer.run(fmax=relax["fmax"], steps=relax["steps"])
        steps = optimizer.get_number_of_steps()
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    return energy, forces, scf_iterations(atoms.calc), steps


def compute(atoms, settings, txt=None):
    """Reference energy of one structure; never raises for a failed calculation.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure; its ``info`` is kept.
    settings : dict
        From :func:`calculator_settings`.
    txt : str or None
        Calculator log file (GPAW).

    Returns
    -------
    ase.Atoms
        With a single-point calculator holding energy and forces when ``status == "ok"``, and
        ``info`` keys ``status``, ``reason``, ``calculator``, ``settings`` (JSON),
        ``wall_time`` (s), ``scf_iterations``, ``relax_steps``, ``attempts``.
    """
    start = time.perf_counter()
    tries = (False, True) if settings["calculator"] == "gpaw" else (False,)
    reasons = []
    for attempt, safer in enumerate(tries, start=1):
        result = _prepare(atoms, settings)
        try:
            energy, forces, iterations, steps = _run(result, settings,
                                                     _attempt_txt(txt, attempt), safer)
            if not np.isfinite(energy) or not np.isfinite(forces).all():
                raise FloatingPointError(f"non-finite energy {energy} or forces")
        except Exception as error:  # a calculator may raise anything; record it
            reasons.append(f"attempt {attempt}: {_failure_reason(error, settings, safer)}")
            result.calc = None
            if isinstance(error, InjectedFault):
                break
            continue
        result.calc = SinglePointCalculator(result, energy=energy, forces=forces)
        status = {"status": "ok", "scf_iterations": iterations or 0, "relax_steps": steps,
                  "reason": "recovered after " + " | ".join(reasons) if reasons else ""}
        break
    if result.calc is None:
        status = {"status": "failed", "scf_iterations": 0, "relax_steps": 0,
                  "reason": " | ".join(reasons)}
    result.info.update(
        status,
        calculator=settings["calculator"],
        settings=json.dumps(settings, sort_keys=True),
        wall_time=round(time.perf_counter() - start, 3),
        attempts=attempt,
    )
    return result


def _safe_info(atoms):
    """A copy of ``atoms`` whose text ``info`` survives extended XYZ.

    ASE writes an empty string as ``key=`` and reads the next pair into it (``reason=`` would
    swallow ``calculator=emt``), and a newline breaks the file: empty strings are dropped
    (:func:`read_result` restores ``reason``) and text is put on one line.
    """
    calc = atoms.calc
    atoms = atoms.copy()
    if calc is not None:
        atoms.calc = SinglePointCalculator(atoms, **calc.results)
    for key, value in list(atoms.info.items()):
        if isinstance(value, str):
            value = one_line(value)
            if value:
                atoms.info[key] = value
            else:
                del atoms.info[key]
    return atoms


def write_atomically(atoms, path):
    """Write extended XYZ to ``path`` through a temporary file and a rename (rank 0 only)."""
    if world.rank != 0:
        return
    with replacing(path) as tmp:
        write(tmp, _safe_info(atoms), format="extxyz", parallel=False)


def read_result(path):
    """Read a result file written by :func:`write_atomically` (``reason`` "" when empty)."""
    atoms = read(path, format="extxyz", parallel=False)
    if "status" in atoms.info:
        atoms.info.setdefault("reason", "")
    return atoms


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
    """The ledger of a store as a list of dicts (:data:`LEDGER_COLUMNS`); [] when none."""
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


def compute_cached(atoms, settings, store, txt=None):
    """:func:`compute`, unless the store already holds this calculation.

    Only successful results are stored: a failed one is computed again next time (the
    failure may have been the machine's).

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
        result = compute(atoms, settings, txt=txt)
        if result.info["status"] == "ok":
            write_atomically(result, stored)
        _append_ledger(store, key, result)
    return result, True


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


def main(argv=None):
    """Command line: ``python -m strata.reference IN OUT SETTINGS_JSON [--store DIR]``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("structure")
    parser.add_argument("result")
    parser.add_argument("settings", help="JSON file written from calculator_settings()")
    parser.add_argument("--store", help="content-addressed store of finished calculations")
    parser.add_argument("--txt", help="calculator log file")
    args = parser.parse_args(argv)
    mpi.init_world()  # before any ASE I/O, so that ASE and GPAW share the MPI world
    atoms = read(args.structure, parallel=False)
    settings = json.loads(Path(args.settings).read_text())
    if args.store:
        result, _ = compute_cached(atoms, settings, args.store, txt=args.txt)
    else:
        result = compute(atoms, settings, txt=args.txt)
    write_atomically(result, args.result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
