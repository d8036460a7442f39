"""One reference calculation: the energy (and forces) of one structure, EMT or GPAW.

A calculation never raises for a physics failure: it returns the structure with
``info["status"] = "failed"`` and the reason, so a campaign carries on. A GPAW SCF that does not
converge is tried once more with safer settings (more iterations, a gentler density mixer).
The calculators are built by :mod:`strata.calculators`; :mod:`strata.store` makes sure that the
same calculation is never run twice; results are written by :func:`strata.files.write_result`.

Testing only: the environment variable ``STRATA_INJECT_FAULT`` (comma-separated ``fnmatch``
patterns of structure ids, e.g. ``r00-00[0-2],r01-*``; ``*`` fails every calculation) makes
the calculations of matching structures raise :class:`InjectedFault`, to show that failures are
survived; ``STRATA_KILL_AT_STEP=N`` SIGKILLs a relaxation after its step N, to show that it
resumes. Neither is a setting: they do not enter the calculation key.

Run under MPI as ``mpirun -np N python -m strata.reference IN OUT SETTINGS.json``
(:mod:`strata.mpi`).
"""

import argparse
import fnmatch
import json
import os
import signal
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
KILL_ENV = "STRATA_KILL_AT_STEP"


class InjectedFault(RuntimeError):
    """Raised on purpose (``STRATA_INJECT_FAULT``), to test that failures are survived."""


def _prepare(atoms, settings):
    """A copy of ``atoms`` without calculator; for GPAW centred in vacuum, non-periodic, and
    with each element's initial magnetic moment when spin-polarised."""
    atoms = atoms.copy()
    atoms.calc = None
    if settings["calculator"] == "gpaw":
        gpaw = settings["gpaw"]
        atoms.center(vacuum=gpaw["vacuum"])
        atoms.pbc = False
        if gpaw["spinpol"]:
            moments = gpaw["magmoms"]
            atoms.set_initial_magnetic_moments(
                [float(moments.get(symbol, 0.0)) for symbol in atoms.get_chemical_symbols()])
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


class RelaxationNotConverged(RuntimeError):
    """A relaxation used its steps without reaching ``fmax`` (``relax.unconverged: fail``)."""


def _max_force(forces):
    """Largest force on an atom (eV/Å)."""
    return float(np.sqrt((np.asarray(forces) ** 2).sum(axis=1).max()))


def _prerelax(atoms, prerelax):
    """Move ``atoms`` to a cheap calculator's minimum (EMT) before the reference calculation;
    the number of steps (0 when ``prerelax.calculator`` is ``none``)."""
    if prerelax["calculator"] == "none":
        return 0
    from ase.calculators.emt import EMT

    cheap = atoms.copy()
    cheap.calc = EMT()
    optimizer = BFGS(cheap, logfile=None)
    optimizer.run(fmax=prerelax["fmax"], steps=prerelax["steps"])
    atoms.positions = cheap.positions
    return int(optimizer.nsteps)


def _frames_so_far(trajectory):
    """The whole frames of a relaxation trajectory left by an earlier run ([] for none).

    A frame cut short by a kill is dropped: the file is rewritten with the whole ones.
    """
    if trajectory is None or not Path(trajectory).exists():
        return []
    from ase.io.trajectory import Trajectory

    frames = []
    try:
        with Trajectory(trajectory, "r") as old:
            for index in range(len(old)):
                frame = old[index]
                frame.get_forces()  # a frame without forces cannot be replayed
                frames.append(frame)
    except Exception:  # a damaged tail: keep the whole frames before it
        with Trajectory(trajectory, "w") as new:
            for frame in frames:
                new.write(frame)
    return frames


def _kill_at_step(optimizer):
    """Testing only: SIGKILL this process after step ``STRATA_KILL_AT_STEP`` of a relaxation
    (a wall-time limit, deterministically). Not a setting."""
    step = int(os.environ.get(KILL_ENV, "0") or 0)
    if step > 0:
        optimizer.attach(lambda: optimizer.nsteps >= step and os.kill(os.getpid(),
                                                                       signal.SIGKILL))


def _relax(atoms, relax, trajectory, frames):
    """BFGS relaxation to ``relax["fmax"]`` in at most ``relax["steps"]`` steps in all.

    Every step is written to ``trajectory`` as it is taken (when given). A relaxation killed
    part-way resumes from its last whole frame (``frames``, :func:`_frames_so_far`), with the
    optimiser's Hessian rebuilt from the frames (``BFGS.replay_trajectory``): the same path as
    an uninterrupted run, and the steps of both runs count against ``steps``.

    Returns
    -------
    tuple[int, int]
        Steps done in all, and of those the steps an earlier run had done.
    """
    if frames:
        atoms.positions = frames[-1].positions
    optimizer = BFGS(atoms, logfile=None, trajectory=trajectory, append_trajectory=True)
    if len(frames) > 1:
        optimizer.replay_trajectory(frames)
    before = max(len(frames) - 1, 0)
    _kill_at_step(optimizer)
    optimizer.run(fmax=relax["fmax"], steps=max(relax["steps"] - before, 0))
    return before + int(optimizer.nsteps), before


def _run(atoms, settings, txt, safer, trajectory, calculator):
    """Energy, forces and what the calculation did, with a fresh calculator; relaxes when
    asked (after the pre-relaxation tier, unless resuming)."""
    fault = _injected_fault(atoms)
    if fault:
        raise InjectedFault(fault)
    relax = settings["relax"]
    frames = _frames_so_far(trajectory) if relax["enabled"] else []
    done = {"prerelax_steps": 0 if frames else _prerelax(atoms, settings["prerelax"])}
    atoms.calc = calculator(settings, txt=txt, safer=safer)
    if relax["enabled"]:
        done["relax_steps"], done["relax_resumed_from"] = _relax(atoms, relax, trajectory,
                                                                 frames)
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    done["fmax"] = round(_max_force(forces), 6)
    if relax["enabled"]:
        done["relax_converged"] = done["fmax"] < relax["fmax"]
        if not done["relax_converged"] and relax["unconverged"] == "fail":
            raise RelaxationNotConverged(
                f"relaxation not converged in {done['relax_steps']} steps: fmax "
                f"{done['fmax']:.3f} > {relax['fmax']} eV/Å (relax.unconverged: fail; a rerun "
                "resumes it with another relax.steps if you raise them)")
    results = {"energy": energy, "forces": forces}
    if settings["calculator"] == "gpaw" and settings["gpaw"]["spinpol"]:
        results["magmoms"] = atoms.get_magnetic_moments()
        results["magmom"] = float(atoms.get_magnetic_moment())
    done["scf_iterations"] = scf_iterations(atoms.calc) or 0
    return results, done


def compute(atoms, settings, txt=None, trajectory=None, calculator=make_calculator):
    """Reference energy of one structure; never raises for a failed calculation.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure; its ``info`` is kept.
    settings : dict
        From :func:`strata.calculators.calculator_settings`.
    txt : str or None
        Calculator log file (GPAW).
    trajectory : path-like or None
        Relaxation trajectory, written as the relaxation goes; one left by a killed run is
        resumed (:func:`_relax`).
    calculator : callable
        ``calculator(settings, txt=, safer=)`` → a fresh calculator for one attempt
        (:func:`strata.calculators.make_calculator`; the benchmarks put asap3's EMT in).

    Returns
    -------
    ase.Atoms
        With a single-point calculator holding energy, forces (and GPAW's final magnetic
        moments when spin-polarised: ``magmoms`` per atom, ``magmom`` in all, μB) when
        ``status == "ok"``, and ``info`` keys ``status``,
        ``reason``, ``calculator``, ``settings`` (JSON), ``wall_time`` (s),
        ``scf_iterations``, ``fmax`` (eV/Å, the largest final force), ``prerelax_steps``,
        ``attempts``, ``mpi_ranks``; with a relaxation ``relax_steps`` (in all),
        ``relax_resumed_from`` (steps of an earlier, killed run) and ``relax_converged``.
    """
    start = time.perf_counter()
    tries = (False, True) if settings["calculator"] == "gpaw" else (False,)
    reasons = []
    for attempt, safer in enumerate(tries, start=1):
        result = _prepare(atoms, settings)
        try:
            values, done = _run(result, settings, _attempt_txt(txt, attempt), safer, trajectory,
                                calculator)
            if not np.isfinite(values["energy"]) or not np.isfinite(values["forces"]).all():
                raise FloatingPointError(f"non-finite energy {values['energy']} or forces")
        except Exception as error:  # a calculator may raise anything; record it
            reasons.append(f"attempt {attempt}: {_failure_reason(error, settings, safer)}")
            result.calc = None
            if isinstance(error, InjectedFault | RelaxationNotConverged):
                break
            continue
        result.calc = SinglePointCalculator(result, **values)
        status = {"status": "ok", **done,
                  "reason": "recovered after " + " | ".join(reasons) if reasons else ""}
        break
    if result.calc is None:
        status = {"status": "failed", "scf_iterations": 0, "reason": " | ".join(reasons)}
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
    """Command line: ``python -m strata.reference IN OUT SETTINGS_JSON [--store DIR]``
    (the store keeps a relaxation's trajectory; without it ``--trajectory FILE``)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("structure")
    parser.add_argument("result")
    parser.add_argument("settings", help="JSON file written from calculator_settings()")
    parser.add_argument("--store", help="content-addressed store of finished calculations")
    parser.add_argument("--txt", help="calculator log file")
    parser.add_argument("--trajectory", help="relaxation trajectory (without --store)")
    args = parser.parse_args(argv)
    mpi.init_world()  # before any ASE I/O, so that ASE and GPAW share the MPI world
    atoms = read(args.structure, parallel=False)
    settings = json.loads(Path(args.settings).read_text())
    if args.store:
        from strata.store import compute_cached  # strata.store imports this module

        result, _ = compute_cached(atoms, settings, args.store, txt=args.txt)
    else:
        result = compute(atoms, settings, txt=args.txt, trajectory=args.trajectory)
    write_result(result, args.result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
