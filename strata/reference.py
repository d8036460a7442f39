"""One reference calculation: the energy (and forces) of one structure, EMT or GPAW.

A calculation never raises for a physics failure: it returns the structure with
``info["status"] = "failed"`` and the reason, so a campaign carries on. A GPAW SCF that does not
converge is tried once more with safer settings (more iterations, a gentler density mixer).
The calculators are built by :mod:`strata.calculators`; :mod:`strata.store` makes sure that the
same calculation is never run twice; results are written by :func:`strata.files.write_result`.

Testing only: the environment variable ``STRATA_INJECT_FAULT`` (comma-separated ``fnmatch``
patterns of structure ids, e.g. ``r00-00[0-2],r01-*``; ``*`` fails every calculation) makes
the calculations of matching structures raise :class:`InjectedFault`, to show that failures are
survived. It is not a setting: it does not enter the calculation key.

Run under MPI as ``mpirun -np N python -m strata.reference IN OUT SETTINGS.json``
(:mod:`strata.mpi`).
"""

import argparse
import fnmatch
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from ase.optimize import BFGS

from strata import mpi
from strata.calculators import make_calculator, scf_iterations
from strata.files import one_line, write_result

FAULT_ENV = "STRATA_INJECT_FAULT"


class InjectedFault(RuntimeError):
    """Raised on purpose (``STRATA_INJECT_FAULT``), to test that failures are survived."""


def _prepare(atoms, settings):
    """A copy of ``atoms`` without calculator; centred in vacuum, non-periodic for GPAW."""
    atoms = atoms.copy()
    atoms.calc = None
    if settings["calculator"] == "gpaw":
        atoms.center(vacuum=settings["gpaw"]["vacuum"])
        atoms.pbc = False
    return atoms


def _injected_fault(atoms):
    """The reason a fault is injected into this calculation (``STRATA_INJECT_FAULT``), or None."""
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
    fault = _injected_fault(atoms)
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
        From :func:`strata.calculators.calculator_settings`.
    txt : str or None
        Calculator log file (GPAW).

    Returns
    -------
    ase.Atoms
        With a single-point calculator holding energy and forces when ``status == "ok"``, and
        ``info`` keys ``status``, ``reason``, ``calculator``, ``settings`` (JSON),
        ``wall_time`` (s), ``scf_iterations``, ``relax_steps``, ``attempts``, ``mpi_ranks``.
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
        mpi_ranks=_world_size(),
    )
    return result


def _world_size():
    """Number of MPI ranks the calculation ran on (1 when serial)."""
    from ase.parallel import world

    return int(world.size)


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
        from strata.store import compute_cached  # strata.store imports this module

        result, _ = compute_cached(atoms, settings, args.store, txt=args.txt)
    else:
        result = compute(atoms, settings, txt=args.txt)
    write_result(result, args.result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
