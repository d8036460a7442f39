"""The campaign's files round-trip without loss."""

import warnings

import numpy as np
import pandas as pd
import pytest
import test_explain

from strata import files, orderings
from strata.reference import compute

ELEMENTS = ["Pt", "Au"]
EMT = {"calculator": "emt", "relax": {"enabled": False, "fmax": 0.05, "steps": 10,
                                      "unconverged": "use"},
       "prerelax": {"calculator": "none", "fmax": 0.05, "steps": 10}}


def candidates(template, n=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"template": 0, "composition": "Au73Pt74", "origin": "random",
             "codes": orderings.random_ordering(np.array([74, 73]), rng), "score": float(i)}
            for i in range(n)]
    return pd.DataFrame(rows)


def test_codes_text_round_trip():
    codes = np.array([0, 1, 1, 0], dtype=orderings.CODE_DTYPE)
    assert (files.codes_from_text(files.codes_to_text(codes)) == codes).all()


def test_labelled_table_read_back_takes_new_columns_without_warning(tmp_path):
    """A descriptor table of 120 columns read back (one block per column from read_csv)
    takes a new column without pandas' fragmented-frame warning in the jobs' logs."""
    table = pd.DataFrame(np.arange(240.0).reshape(2, 120), columns=[f"f{i}" for i in range(120)])
    table["codes"] = [files.codes_to_text(np.array([0, 1], dtype=orderings.CODE_DTYPE))] * 2
    table.to_csv(tmp_path / "descriptors.csv", index=False)
    labelled = files.read_labelled([tmp_path / "descriptors.csv"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        labelled.assign(kind="batch")
    assert labelled["f119"].tolist() == [119.0, 239.0]


def test_candidates_round_trip(tmp_path, icosahedron147):
    table = candidates(icosahedron147)
    files.write_candidates(table, tmp_path / "candidates.csv")
    back = files.read_candidates(tmp_path / "candidates.csv")
    assert all((a == b).all() for a, b in zip(table.codes, back.codes, strict=True))
    assert back.score.tolist() == table.score.tolist()
    assert not list(tmp_path.glob(".*tmp"))


def test_batch_structures_and_labels(tmp_path, icosahedron147):
    table = candidates(icosahedron147, n=3)
    structures = files.batch_structures(table, [icosahedron147], ELEMENTS, 2)
    assert [s.info["structure_id"] for s in structures] == ["r02-000", "r02-001", "r02-002"]
    files.write_structures(structures, tmp_path / "batch.extxyz")
    back = files.read_structures(tmp_path / "batch.extxyz")
    assert back[1].info["score"] == 1.0
    row = files.label_row(compute(back[1], EMT), ELEMENTS)
    assert row["status"] == "ok" and np.isfinite(row["energy"])
    assert (files.codes_from_text(row["codes"]) == table.codes[1]).all()


def test_round_rng_is_reproducible_and_independent_per_stage():
    a = files.round_rng(0, 3, "generate").random(3)
    assert (a == files.round_rng(0, 3, "generate").random(3)).all()
    assert not (a == files.round_rng(0, 3, "select").random(3)).all()
    assert not (a == files.round_rng(0, 4, "generate").random(3)).all()


# ---- stage times of the reports; the mini campaign of tests/test_explain.py


mini = test_explain.mini  # the shared fixture


def test_stage_times(mini, tmp_path):
    logs = tmp_path / "round_00" / "logs"
    logs.mkdir(parents=True)
    for stage in ("generate_candidates", "select_batch", "train_model"):
        (logs / f"{stage}.log").write_text("x")
    bench = tmp_path / "round_00" / "benchmarks"
    bench.mkdir()
    (bench / "explain_model.tsv").write_text("s\th:m:s\n2.5\t0:00:02\n")
    times = files.stage_times(mini["labelled"], {0: logs})
    assert times.loc[0, "compute_reference (s)"] == pytest.approx(24 * 0.01)
    assert times.loc[0, "select_batch (s)"] >= 0
    assert times.loc[0, "explain_model (s)"] == pytest.approx(2.5)
    assert np.isnan(times.loc[0, "report_round (s)"])
