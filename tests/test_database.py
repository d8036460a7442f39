"""The reference database: built by one gathering step, rebuilt identically from the files."""

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from ase.db import connect
from conftest import EMT

from strata import database, reference, store
from strata.clusters import build_template
from strata.files import read_result, write_result


def _job(args):
    """One reference job of a campaign: compute (through the store) and write its own file.

    ``faults`` is the job's ``STRATA_INJECT_FAULT`` (set in the worker process, whatever the
    start method of the pool).
    """
    folder, round_, index, faults = args
    os.environ[reference.FAULT_ENV] = faults
    symbols = ["Pt", "Au"] * 6 + ["Pt"]
    shift = 6 * round_ + index  # a different ordering for each job
    symbols = symbols[shift:] + symbols[:shift]
    atoms = build_template("icosahedron", 2, 4.0)
    atoms.symbols = symbols
    atoms.info.update(structure_id=f"r{round_:02d}-{index:03d}", round=round_, template=0,
                      composition="Au6Pt7", origin="random")
    result, _ = store.compute_cached(atoms, EMT, Path(folder) / "calculations")
    path = Path(folder) / f"round_{round_:02d}" / "references" / f"{index:03d}.extxyz"
    write_result(result, path)
    return str(path), os.getpid()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Twelve reference files written by four parallel processes (two failed)."""
    folder = tmp_path_factory.mktemp("results")
    jobs = [(str(folder), r, i, "r00-002,r01-001") for r in (0, 1) for i in range(6)]
    with ProcessPoolExecutor(4) as pool:
        outcomes = list(pool.map(_job, jobs))
    return folder, [path for path, _ in outcomes]


def rows(path):
    """Every row of a database as comparable tuples (ids and timestamps left out)."""
    with connect(path) as db:
        return [
            (row.structure_id, row.status, row.get("calculator"), row.get("energy"),
             tuple(row.numbers), row.positions.round(8).tobytes(), row.data.get("reason"),
             tuple(sorted(row.key_value_pairs.items())))
            for row in db.select(sort="structure_id")
        ]


def test_parallel_jobs_write_distinct_files(results):
    folder, paths = results
    assert len(paths) == len(set(paths)) == 12
    assert all(Path(p).is_file() for p in paths)
    assert not list(Path(folder).rglob(".*tmp"))


def test_gather_holds_every_result_with_its_status(results, tmp_path):
    _, paths = results
    assert database.gather(paths, tmp_path / "references.db") == 12
    table = rows(tmp_path / "references.db")
    assert [r[0] for r in table] == [f"r{r:02d}-{i:03d}" for r in (0, 1) for i in range(6)]
    failed = {r[0]: r[6] for r in table if r[1] == "failed"}
    assert set(failed) == {"r00-002", "r01-001"}
    assert all("InjectedFault" in reason for reason in failed.values())
    # the calculator survives an empty reason (ASE extxyz would fold it into `reason=`)
    assert all(r[2] == "emt" for r in table if r[1] == "ok")
    with connect(tmp_path / "references.db") as db:
        assert db.count(status="ok") == 10 and db.count(round=1) == 6
        assert all(row.energy is not None for row in db.select(status="ok"))


def test_rebuild_gives_the_same_content(results, tmp_path):
    _, paths = results
    database.gather(paths, tmp_path / "a.db")
    database.gather(list(reversed(paths)), tmp_path / "b.db")  # order of the inputs is irrelevant
    database.gather(paths, tmp_path / "a.db")  # rebuilt in place
    assert rows(tmp_path / "a.db") == rows(tmp_path / "b.db")
    assert len(rows(tmp_path / "a.db")) == 12
    assert not list(tmp_path.glob(".*tmp*"))


def test_gather_replaces_the_database_atomically(results, tmp_path):
    """A gathering that fails half-way leaves the previous database whole."""
    _, paths = results
    target = tmp_path / "references.db"
    database.gather(paths, target)
    before = rows(target)
    broken = tmp_path / "broken.extxyz"
    broken.write_text("13\nnot a result\n")
    with pytest.raises(Exception):  # noqa: B017 - whatever ASE raises for a broken file
        database.gather([*paths, broken], target)
    assert rows(target) == before


def test_store_and_results_agree(results):
    """Each successful result file has its twin in the content-addressed store."""
    folder, paths = results
    calculations = Path(folder) / "calculations"
    ok = [read_result(p) for p in paths]
    ok = [r for r in ok if r.info["status"] == "ok"]
    assert len(list(calculations.glob("*.extxyz"))) == len(ok) == 10
    ledger = store.read_ledger(calculations)
    assert len(ledger) == 12 and len({row["key"] for row in ledger if row["status"] == "ok"}) == 10
