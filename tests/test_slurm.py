"""A campaign through a real SLURM with profiles/slurm: jobs go through sbatch, and a campaign
killed mid-round resumes (wait for the queue, --unlock, --rerun-incomplete) without recomputing
anything that had finished.

Needs a running SLURM (``bash .ci/slurm up``, root). Opt-in: ``STRATA_SLURM=1 pytest -m
slurm`` (on in CI, .ci/run); opted in, a SLURM that is not up fails the tests. The campaign
is the real workflow: a small 2-round EMT campaign.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import copy_workflow, write_gpaw_campaign

from strata.store import read_ledger

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
ROUNDS, PER_ROUND = 2, 4
RUN_TIMEOUT = 300  # seconds; `timeout` kills a snakemake run that would hang CI


def _slurm_running() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        cmd = ["sinfo", "-h", "-o", "%t"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc"))


OPTED_IN = os.environ.get("STRATA_SLURM") == "1"

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(not OPTED_IN, reason="opt-in: STRATA_SLURM=1 with a running SLURM "
                       "(bash .ci/slurm up); .ci/run does both"),
]


@pytest.fixture(autouse=True)
def slurm_cluster():
    """Opted in, a missing or down SLURM is a failure, not a skip (CI must not go green
    without the cluster it promises to test)."""
    if not _slurm_running():
        pytest.fail("STRATA_SLURM=1 but no SLURM node is up (sinfo shows none idle/mix/alloc); "
                    "start one with `bash .ci/slurm up`")


def campaign(workdir: Path) -> tuple[list[str], list[Path]]:
    """Copy the real workflow into ``workdir`` (a small 2-round EMT campaign); return its
    snakemake arguments and the reference files of its per-structure SLURM jobs."""
    copy_workflow(workdir)
    args = ["--config", f"rounds={ROUNDS}", f"initial_size={PER_ROUND}",
            f"batch_size={PER_ROUND}", "pool_size=100"]
    refs = [
        workdir / f"results/round_{r:02d}/references/{i:03d}.extxyz"
        for r in range(ROUNDS)
        for i in range(PER_ROUND)
    ]
    return args, refs


def snakemake_cmd(workdir: Path, args: list[str], *extra: str,
                  timeout: int = RUN_TIMEOUT) -> list[str]:
    return [
        "timeout", "-k", "10", str(timeout),
        sys.executable, "-m", "snakemake", "--profile", str(PROFILE),
        "--directory", str(workdir), *args,
        "--slurm-no-account",  # no accounting database on the CI cluster
        *extra,
    ]  # fmt: skip


def run(workdir: Path, args: list[str], *extra: str) -> subprocess.CompletedProcess:
    cmd = snakemake_cmd(workdir, args, *extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT + 30)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return proc


def our_jobs(workdir: Path, states: str = "all") -> list[dict]:
    """SLURM jobs run in ``workdir`` (squeue lists finished jobs for MinJobAge seconds)."""
    out = subprocess.run(
        ["squeue", "-h", f"--states={states}", "-o", "%i|%T|%k|%Z"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    jobs = []
    for line in out.splitlines():
        jobid, state, comment, wd = line.split("|", 3)
        if Path(wd) == workdir:
            jobs.append({"id": jobid, "state": state, "comment": comment})
    return jobs


def counts(workdir: Path) -> Counter:
    """Calculations actually run, per structure id (the store's ledger)."""
    ledger = read_ledger(workdir / "results" / "calculations")
    return Counter(entry["structure_id"] for entry in ledger)


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_campaign_on_slurm_kill_and_resume(tmp_path):
    workdir = tmp_path / "campaign"
    workdir.mkdir()
    args, refs = campaign(workdir)
    round1 = refs[PER_ROUND:]
    t0 = time.monotonic()

    # 1. launch, and kill snakemake (SIGKILL, as when the login session dies) mid-round 1
    log = open(tmp_path / "run1.log", "w")
    proc = subprocess.Popen(
        snakemake_cmd(workdir, args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for(lambda: any(p.exists() for p in round1) or proc.poll() is not None, 240,
                 "the first reference of round 1")  # fmt: skip
        assert proc.poll() is None, "campaign ended before it could be interrupted"
        assert not all(p.exists() for p in round1), "round 1 finished before the kill"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    done_at_kill = {p for p in refs if p.exists()}
    assert len(done_at_kill) >= PER_ROUND + 1

    # 2. jobs already in SLURM keep running without snakemake: wait for the queue to drain
    wait_for(lambda: not our_jobs(workdir, "pending,running,completing"), 120, "queue to drain")
    done_before_resume = {p for p in refs if p.exists()}
    ends_before = counts(workdir)

    # 3. resume exactly as profiles/README.md says
    run(workdir, args, "--unlock")
    resumed = run(workdir, args, "--rerun-incomplete")
    assert (workdir / "results/report.html").exists()
    assert (workdir / "results/references.db").exists()
    assert all(p.exists() for p in refs)

    # nothing that had finished was computed again; everything ran exactly once
    ends = counts(workdir)
    for p in done_before_resume:
        key = f"r{p.parent.parent.name.removeprefix('round_')}-{p.stem}"
        assert ends[key] == ends_before[key] == 1, (key, resumed.stderr[-3000:])
    assert sorted(ends.values()) == [1] * len(refs), ends

    # 4. the references really went through sbatch: squeue still lists them (MinJobAge) and
    # the plugin kept a SLURM log of each, named by its SLURM job id
    jobs = [j for j in our_jobs(workdir) if j["comment"].startswith("rule_compute_reference")]
    assert {j["state"] for j in jobs} <= {"COMPLETED", "CANCELLED"}, jobs
    job_ids = {j["id"] for j in jobs if j["state"] == "COMPLETED"}
    assert len(job_ids) >= len(refs), (job_ids, refs)
    slurm_logs = list((workdir / ".snakemake/slurm_logs/rule_compute_reference").rglob("*.log"))
    assert {p.stem for p in slurm_logs} >= job_ids
    # the local rules did not go to the queue
    assert not [j for j in our_jobs(workdir) if not j["comment"].startswith("rule_compute_")]
    elapsed = time.monotonic() - t0
    print(f"SLURM campaign with kill/resume: {elapsed:.1f} s, {len(done_at_kill)} refs done at")
    print(f"kill, {len(done_before_resume)} before resume")


def test_gpaw_on_two_ranks_through_the_slurm_profile(tmp_path):
    """A 2-round GPAW LCAO campaign (Cu11Ag2) with ``reference.resources.tasks: 2`` and
    ``launcher: srun`` through profiles/slurm: each reference is a SLURM job whose GPAW ran on
    2 MPI ranks, computed once."""
    from ase.db import connect

    workdir = tmp_path / "gpaw"
    copy_workflow(workdir)
    config = write_gpaw_campaign(workdir, tasks=2, launcher="srun")
    cmd = snakemake_cmd(workdir, ["--configfile", str(config)], timeout=900)  # 3 GPAW points
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=930)
    assert proc.returncode == 0, proc.stderr[-5000:]
    with connect(workdir / "results" / "references.db") as db:
        rows = list(db.select())
    assert len(rows) == 3 and {row.status for row in rows} == {"ok"}
    assert [row.mpi_ranks for row in rows] == [2, 2, 2]
    assert all(row.calculator == "gpaw" for row in rows)
    jobs = [j for j in our_jobs(workdir) if j["comment"].startswith("rule_compute_reference")]
    assert len(jobs) == 3 and {j["state"] for j in jobs} == {"COMPLETED"}
    assert sorted(counts(workdir).values()) == [1, 1, 1]
