"""The ASE database of all reference results (``ase db results/references.db``).

Built by one gathering step from the per-structure result files, never written by the
parallel reference jobs, so rebuilding it from those files gives the same content. A gathering
killed half-way leaves the previous database whole, and the next one removes the temporary
files it left: the database, its ``-journal`` and ASE's ``.lock``
(:func:`strata.atomic.replacing`).
"""

from pathlib import Path

from ase.db import connect

from strata.atomic import replacing
from strata.files import read_result

KEYS = ("structure_id", "round", "template", "composition", "origin", "status", "wall_time",
        "scf_iterations", "attempts", "mpi_ranks", "prerelax_steps", "relax_steps",
        "relax_resumed_from", "relax_converged")  # fmax, magmom(s): ase db's own columns


def key_value_pairs(atoms):
    """The searchable key–value pairs of one result (``ase db … status=failed``)."""
    pairs = {key: atoms.info[key] for key in KEYS if key in atoms.info}
    pairs["round"] = int(pairs.get("round", 0))
    return pairs


def gather(paths, database):
    """Write every result file into a fresh ASE database, replacing ``database`` atomically.

    Parameters
    ----------
    paths : iterable of path-like
        Per-structure result files (extended XYZ).
    database : path-like
        Target ``.db`` (SQLite) file.

    Returns
    -------
    int
        Number of rows written.
    """
    n_rows = 0
    with replacing(database) as tmp, connect(tmp, type="db", append=False) as db:
        for path in sorted(map(Path, paths)):
            atoms = read_result(path)
            if atoms.calc is not None:  # the `calculator` column of `ase db`
                atoms.calc.name = atoms.info.get("calculator", atoms.calc.name)
            data = {"reason": atoms.info.get("reason", ""), "settings": atoms.info.get("settings")}
            db.write(atoms, key_value_pairs=key_value_pairs(atoms), data=data)
            n_rows += 1
    return n_rows
