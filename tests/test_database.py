"""The reference database: built by one gathering step, rebuilt identically from the files."""

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from ase.db import connect
from conftest import EMT

from strata import atomic, database, reference, store
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


# ---- a gathering killed half-way (SIGKILL): its temporary files go with the next one

KILLED_GATHER = """\
import sys
from strata import database
database.gather(sys.argv[2:], sys.argv[1])
"""


def killed_gathering(paths, target, folder):
    """Run a gathering in a process and SIGKILL it while it writes: it blocks on a FIFO that
    sorts after every result file, once their rows are written to its temporary database."""
    fifo = folder / "zz" / "last.extxyz"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    script = folder / "gather.py"
    script.write_text(KILLED_GATHER)
    process = subprocess.Popen([sys.executable, str(script), str(target), *map(str, paths),
                                str(fifo)])
    try:
        deadline = time.monotonic() + 60
        while not list(target.parent.glob(f".{target.name}.{process.pid}.tmp*")):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)  # the rows before the FIFO are written meanwhile
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return process.pid


def test_killed_gathering_leaves_temporary_files_the_next_removes(results, tmp_path):
    _, paths = results
    copies = []
    for path in paths:  # result files that sort before the FIFO
        copies.append(tmp_path / "aa" / Path(path).parent.parent.name / Path(path).name)
        copies[-1].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copies[-1])
    target = tmp_path / "out" / "references.db"
    database.gather(copies, target)
    before = rows(target)
    pid = killed_gathering(copies, target, tmp_path)
    leftovers = sorted(p.name for p in target.parent.glob(".references.db.*"))
    assert f".references.db.{pid}.tmp" in leftovers, leftovers
    assert rows(target) == before  # the previous database is whole
    assert database.gather(copies, target) == 12
    assert sorted(p.name for p in target.parent.iterdir()) == ["references.db"]
    assert rows(target) == before


def test_remove_leftovers_keeps_files_of_running_writers(tmp_path):
    """Only the files of writers that are gone, and only those of this target."""
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    target = tmp_path / "references.db"
    names = [f".references.db.{gone.pid}.tmp", f".references.db.{gone.pid}.tmp-journal",
             f".references.db.{gone.pid}.tmp.lock", f".references.db.{os.getpid()}.tmp",
             f".references.db.{running.pid}.tmp", ".references.db.x.tmp", ".other.db.1.tmp",
             "references.db"]
    for name in names:
        (tmp_path / name).write_text("x")
    try:
        removed = atomic.remove_leftovers(target)
    finally:
        running.kill()
        running.wait()
    assert [p.name for p in removed] == sorted(names[:4])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[4:])
