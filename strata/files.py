"""The campaign's file formats: candidate tables, batches, labelled tables, seeds.

Rule scripts read and write only through these functions, so every stage agrees on one
format:

* ``candidates.csv`` — one ordering per row: ``template``, ``composition``, ``origin``,
  ``codes`` (element indices separated by spaces) and, after round 0, ``score`` and
  ``uncertainty``.
* ``batch.extxyz`` — the structures to compute, ``info`` with ``structure_id``, ``round``,
  ``template``, ``composition``, ``origin`` (and ``predicted_rank``, ``score``,
  ``uncertainty`` after round 0).
* ``descriptors.csv`` — one labelled structure per row: :data:`LABEL_COLUMNS`, ``codes``, then
  the named descriptor columns.
"""

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from ase.io import read, write

from strata import generation, orderings
from strata.atomic import replacing

LABEL_COLUMNS = ["structure_id", "round", "template", "composition", "origin", "status",
                 "reason", "energy", "wall_time", "pick", "predicted_rank", "score",
                 "uncertainty", "prerelax_steps", "relax_steps", "relax_converged", "fmax",
                 "magmom"]
STAGES = ("generate", "select", "chart")  # the stages that draw random numbers
#: the rules of one round, in order (the reports' wall time per stage)
ROUND_RULES = ("generate_candidates", "select_batch", "compute_reference",
               "describe_structures", "train_model", "explain_model", "report_round")


def round_rng(seed, round_, stage):
    """Independent, reproducible random stream for one stage of one round."""
    return np.random.default_rng([seed, round_, STAGES.index(stage)])


def structure_id(round_, index):
    """``"r03-007"``: structure 7 of round 3."""
    return f"r{round_:02d}-{index:03d}"


def codes_to_text(codes):
    """Ordering as text (element indices separated by spaces)."""
    return " ".join(map(str, np.asarray(codes, dtype=int)))


def codes_from_text(text):
    """Ordering from :func:`codes_to_text`."""
    return np.array(text.split(), dtype=orderings.CODE_DTYPE)


def write_csv(table, path):
    """Write a table through a temporary file and a rename."""
    with replacing(path) as tmp:
        table.to_csv(tmp, index=False)


def write_arrays(arrays, path):
    """Named arrays to one ``.npz`` file (e.g. the campaign's pair coefficients), through a
    temporary file and a rename."""
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_arrays(path):
    """The named arrays of a :func:`write_arrays` file.

    Raises
    ------
    ValueError
        When the file cannot be read, naming it.
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} cannot be read ({error}): delete it and run again, it is "
                         "recomputed") from error


def read_pairs(paths):
    """The campaign's pair coefficients from the ``pair_coefficients`` rule's file, when the
    rule's input list ``paths`` holds it (the layers alone need none: None)."""
    return read_arrays(paths[0]) if len(paths) else None


def write_candidates(candidates, path):
    """Write a candidate table (``codes`` arrays as text)."""
    write_csv(candidates.assign(codes=candidates["codes"].map(codes_to_text)), path)


def empty_candidates():
    """A candidate table with no rows (the stop rule was met)."""
    return pd.DataFrame({"template": pd.Series(dtype=int), "codes": pd.Series(dtype=object),
                         "composition": pd.Series(dtype=str), "group": pd.Series(dtype=str),
                         "origin": pd.Series(dtype=str),
                         "score": pd.Series(dtype=float), "uncertainty": pd.Series(dtype=float)})


def read_candidates(path):
    """Read a candidate table (``codes`` back as arrays)."""
    table = pd.read_csv(path)
    table["codes"] = table["codes"].map(codes_from_text)
    return table


def batch_structures(batch, templates, elements, round_):
    """The batch as :class:`ase.Atoms`, numbered ``structure_id(round_, i)``."""
    numbers = [c for c in ("predicted_rank", "score", "uncertainty") if c in batch]
    return [
        generation.structure_atoms(
            templates[row.template], row.codes, elements,
            structure_id=structure_id(round_, i), round=round_, template=int(row.template),
            composition=row.composition, origin=row.origin,
            pick=getattr(row, "pick", "initial"),
            **{c: float(getattr(row, c)) for c in numbers},
        )
        for i, row in enumerate(batch.itertuples(index=False))
    ]


def write_structures(structures, path):
    """Write structures to one extended-XYZ file atomically (an empty file for none); text
    ``info`` is made safe for the format (:func:`_extxyz_safe`)."""
    with replacing(path) as tmp:
        if structures:
            write(tmp, [_extxyz_safe(atoms) for atoms in structures], format="extxyz")
        else:
            tmp.write_text("")


def read_structures(path):
    """All structures of an extended-XYZ file (none for an empty file: an empty batch)."""
    if Path(path).stat().st_size == 0:
        return []
    return read(path, index=":", format="extxyz")


def label_row(result, elements):
    """One row of a labelled table from a reference result."""
    ok = result.info["status"] == "ok"
    row = {c: result.info.get(c, np.nan) for c in LABEL_COLUMNS if c not in ("energy", "magmom")}
    row["energy"] = result.get_potential_energy() if ok else np.nan
    row["magmom"] = result.calc.results.get("magmom", np.nan) if ok else np.nan
    row["codes"] = codes_to_text(
        orderings.codes_from_symbols(result.get_chemical_symbols(), elements)
    )
    return row


def read_table(path):
    """One ``descriptors.csv`` table as written (``codes`` as text), its columns consolidated
    (``read_csv`` gives a block per column, and every later column insert warned of a
    fragmented frame)."""
    return pd.read_csv(path).copy()


def concat_labelled(tables):
    """Labelled tables of several rounds (from :func:`read_table`) as one, ``codes`` as
    arrays."""
    table = pd.concat([t for t in tables if len(t)] or tables[:1], ignore_index=True)
    table["codes"] = table["codes"].map(codes_from_text)
    return table


def read_labelled(paths):
    """Concatenate ``descriptors.csv`` tables of several rounds (``codes`` as arrays)."""
    return concat_labelled([read_table(p) for p in paths])


def read_chances(paths):
    """Round → its ``chance.csv`` table (:func:`strata.rounds.better_chance`), the round read
    from each path's ``round_NN`` folder."""
    return {int(re.search(r"round_(\d+)", str(p)).group(1)): pd.read_csv(p) for p in paths}


def round_trip(value, write, read, suffix):
    """``read`` of what ``write`` makes of ``value`` in a temporary file.

    What the next rule of the workflow sees of a rule's output; :func:`strata.rounds.run`
    hands every output over this way, so that an in-process campaign is the workflow's.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        write(value, path)
        return read(path)


def labelled_table(results, featurizer):
    """Labels, lattice descriptors and relaxation columns of reference results.

    Parameters
    ----------
    results : list[ase.Atoms]
        Reference results of the campaign's templates.
    featurizer : strata.featurizer.Featurizer
        The campaign's: every result is described by its lattice ordering
        (:meth:`~strata.featurizer.Featurizer.describe_results`), as the pool is.

    Returns
    -------
    pandas.DataFrame
        :data:`LABEL_COLUMNS`, ``codes``, the descriptor columns, then the
        ``relaxation …`` columns; an empty table with the label and descriptor columns for
        no results (e.g. a round after the stop rule).
    """
    if not results:
        return pd.DataFrame(columns=LABEL_COLUMNS + ["codes"] + featurizer.names)
    elements = featurizer.settings.elements
    labels = pd.DataFrame([label_row(result, elements) for result in results])
    features = pd.DataFrame(featurizer.describe_results(results), columns=featurizer.names)
    return pd.concat([labels, features, featurizer.relaxation(results)], axis=1)


def relaxation_columns(table):
    """The ``relaxation …`` columns of a labelled table (what relaxation did; not features)."""
    from strata.featurizer import RELAXATION_PREFIX

    return [c for c in table.columns if c.startswith(RELAXATION_PREFIX)]


def feature_columns(table):
    """The descriptor columns of a labelled table (not labels, codes nor relaxation)."""
    left_out = set(LABEL_COLUMNS) | {"codes"} | set(relaxation_columns(table))
    return [c for c in table.columns if c not in left_out]



# --- Reference results: one extended-XYZ file per calculation --------------------------------
# ``references/{index}.extxyz`` and the store's ``{key}.extxyz``: the structure, a single-point
# calculator with energy and forces (when ``status`` is ``ok``) and the ``info`` keys of
# :func:`strata.reference.compute`.


def one_line(text):
    """``text`` on one line (whitespace collapsed, no backslashes): safe in extended XYZ.

    Parameters
    ----------
    text : object
        Anything; its ``str`` is used.

    Returns
    -------
    str
    """
    return " ".join(str(text).replace("\\", "/").split())


def _extxyz_safe(atoms):
    """A copy of ``atoms`` whose text ``info`` survives extended XYZ.

    ASE writes an empty string as ``key=`` and reads the next pair into it (``reason=`` would
    swallow ``calculator=emt``), and a newline breaks the file: empty strings are dropped
    (:func:`read_result` restores ``reason``) and text is put on one line.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

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


def write_result(atoms, path):
    """Write a reference result atomically (temporary file and rename; MPI rank 0 only).

    Parameters
    ----------
    atoms : ase.Atoms
        A result of :func:`strata.reference.compute` (or any labelled structure).
    path : path-like
        Target extended-XYZ file.
    """
    from ase.parallel import world

    if world.rank != 0:
        return
    with replacing(path) as tmp:
        write(tmp, _extxyz_safe(atoms), format="extxyz", parallel=False)


def read_result(path):
    """Read a result file written by :func:`write_result`.

    Parameters
    ----------
    path : path-like
        An extended-XYZ result file.

    Returns
    -------
    ase.Atoms
        With its calculator and ``info``; ``reason`` is ``""`` when it was empty.
    """
    atoms = read(path, format="extxyz", parallel=False)
    if "status" in atoms.info:
        atoms.info.setdefault("reason", "")
    return atoms


# ----------------------------------------------------------------------------- stage times

def stage_times(labelled, logs_dirs):
    """Wall time per stage and round.

    ``compute_reference``: the summed ``wall_time`` the reference results record (CPU-side
    time of the calculations, however many ran in parallel). Other stages: a Snakemake
    benchmark file ``<round>/benchmarks/<stage>.tsv`` when there is one, else the time
    between the last write of the stage's log and of the stage before it (approximate:
    includes waiting for a free core). NaN when neither is known (``report_round`` needs its
    benchmark: its log is still being written while the report is).

    Parameters
    ----------
    labelled : pandas.DataFrame
    logs_dirs : dict of int to path
        Round → its ``logs`` folder (``results/round_NN/logs``).
    """
    rows = []
    carried = None  # train_model's log time of the round before
    for round_, logs in sorted(logs_dirs.items()):
        logs = Path(logs)
        mtimes = {}
        for stage in ROUND_RULES:
            written = [f.stat().st_mtime for f in logs.glob(f"{stage}*.log")]
            if written:
                mtimes[stage] = max(written)
        if carried is not None:
            mtimes["previous round"] = carried
        wall_time = labelled.loc[labelled["round"] == round_, "wall_time"]
        rows.append({"round": round_, **_round_times(logs.parent / "benchmarks", mtimes,
                                                     wall_time)})
        carried = mtimes.get("train_model", carried)
    return pd.DataFrame(rows)


def _round_times(bench, mtimes, wall_time):
    """Seconds per stage of one round (see :func:`stage_times`)."""
    row, previous = {}, "previous round"
    for stage in ROUND_RULES:
        value = np.nan
        bench_file = bench / f"{stage}.tsv"
        if stage == "compute_reference":
            value = float(wall_time.sum()) if wall_time.notna().any() else np.nan
        elif bench_file.exists():
            value = float(pd.read_csv(bench_file, sep="\t")["s"].iloc[-1])
        elif stage in mtimes and previous in mtimes and stage != "report_round":
            value = max(mtimes[stage] - mtimes[previous], 0.0)
        row[f"{stage} (s)"] = value
        previous = stage if stage in mtimes else previous
    return row
