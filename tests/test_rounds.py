"""The round jobs: the workflow's rules and an in-process campaign are one code path."""


import numpy as np
import pytest
import yaml
from conftest import as_snakemake_reads_it, run_snakemake

from strata import files, rounds
from strata.campaign import Campaign

# Pt28Au27 on the 55-atom icosahedron, EMT: three rounds in seconds.
SMALL = {
    "elements": ["Pt", "Au"],
    "composition": [{"Pt": 28, "Au": 27}],
    "cluster": {"shape": "icosahedron", "size": 3, "lattice_constant": 4.0},
    "rounds": 3,
    "initial_size": 6,
    "batch_size": 3,
    "pool_size": 120,
    "search": {"passes": 2, "children": 64, "population": 8},
    "model": {"n_estimators": 40, "ensemble_size": 2},
    "seed": 7,
}


def in_process(overrides=SMALL):
    return list(rounds.run(Campaign.from_config(as_snakemake_reads_it(overrides))))


@pytest.fixture(scope="module")
def campaign_rounds():
    return in_process()


def test_in_process_batches_are_the_workflow_batches(campaign_rounds, tmp_path_factory):
    """Same config and seed: byte-identical batch.extxyz of every round, whoever runs it."""
    from conftest import copy_workflow

    folder = copy_workflow(tmp_path_factory.mktemp("workflow"))
    (folder / "small.yaml").write_text(yaml.safe_dump(SMALL))
    target = f"results/round_{SMALL['rounds'] - 1:02d}/model.txt"
    done = run_snakemake(folder, target, "--configfile", "small.yaml", timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert len(campaign_rounds) == SMALL["rounds"]
    for record in campaign_rounds:
        mine = tmp_path_factory.mktemp("mine") / "batch.extxyz"
        files.write_structures(record.batch, mine)
        theirs = folder / "results" / f"round_{record.round:02d}" / "batch.extxyz"
        assert mine.read_bytes() == theirs.read_bytes(), f"round {record.round}"


def test_rounds_learn_and_never_repeat_a_structure(campaign_rounds):
    last = campaign_rounds[-1]
    sizes = [len(r.batch) for r in campaign_rounds]
    assert sizes == [6, 3, 3]
    assert len(last.labelled) == sum(sizes)
    campaign = Campaign.from_config(as_snakemake_reads_it(SMALL))
    keys = campaign.keys(last.labelled["template"].to_numpy(int),
                         np.stack(last.labelled["codes"].to_numpy()))
    assert len(set(keys)) == len(keys)
    assert list(last.labelled["round"]) == [0] * 6 + [1] * 3 + [2] * 3
    assert set(last.metrics.columns) >= {"round", "reference_calls", "best_energy"}
    assert set(last.seconds) == {"generate", "select", "reference", "describe", "train"}


def test_same_seed_same_campaign_other_seed_another(campaign_rounds):
    again = in_process()
    for a, b in zip(campaign_rounds, again, strict=True):
        assert [x.get_chemical_symbols() for x in a.batch] == \
            [x.get_chemical_symbols() for x in b.batch]
    other = in_process(dict(SMALL, seed=8, rounds=2))
    assert [x.get_chemical_symbols() for x in other[1].batch] != \
        [x.get_chemical_symbols() for x in campaign_rounds[1].batch]


def test_stop_rule_ends_the_campaign():
    config = dict(SMALL, rounds=6, selection={"stop_after": 1})
    done = in_process(config)
    assert 2 <= len(done) < 6


KNOWN_ANSWER_CALLS = 75  # the suite measures 21-41 calls on this particle (5 seeds)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_campaign_finds_its_known_ground_state(seed):
    """A quality regression in search, model or selection fails here, not only in a benchmark:
    the default campaign (Ag27Au28/55, EMT, its initial set lacks the answer) reaches the ground
    state of config.yaml's ground_truth_energy within KNOWN_ANSWER_CALLS reference calls.
    Random search does not reach it in 150 (benchmarks/suite.py)."""
    config = as_snakemake_reads_it({"seed": seed, "rounds": 20})
    truth = config["ground_truth_energy"]
    calls, best = 0, np.inf
    for record in rounds.run(Campaign.from_config(config)):
        calls += len(record.results)
        best = min([best] + [r.get_potential_energy() for r in record.results
                             if r.info["status"] == "ok"])
        if best <= truth + 1e-3 or calls >= KNOWN_ANSWER_CALLS:
            break
    assert best <= truth + 1e-3, f"seed {seed}: best {best:.4f} eV after {calls} calls"
    assert calls <= KNOWN_ANSWER_CALLS


def test_relaxed_structures_are_trained_in_the_space_the_pool_is_scored_in():
    """A relaxed EMT campaign of Cu/Ag (12 % size mismatch): each labelled structure's
    training row is the row its ordering gets in the pool (template + codes), not that of
    its relaxed geometry; what relaxation did is kept in the relaxation columns."""
    config = {**SMALL, "elements": ["Cu", "Ag"], "composition": [{"Cu": 28, "Ag": 27}],
              "cluster": {"shape": "icosahedron", "size": 3, "lattice_constant": None},
              "rounds": 2, "reference": {"relax": {"enabled": True, "fmax": 0.05}}}
    campaign = Campaign.from_config(as_snakemake_reads_it(config))
    history = list(rounds.run(campaign))
    labelled = history[-1].labelled
    assert len(labelled) == 9 and (labelled["relax_steps"] > 5).all()
    training = labelled[files.feature_columns(labelled)].to_numpy()
    for row, codes, template in zip(training, labelled["codes"], labelled["template"],
                                    strict=True):
        assert np.array_equal(row, campaign.featurizer(int(template), codes[None])[0])
    # the relaxed geometries themselves would have given other rows
    from strata.featurizer import describe_many

    relaxed = describe_many(history[0].results, campaign.settings.descriptors).to_numpy()
    assert not np.allclose(relaxed, training[:len(relaxed)])
    moved = labelled.filter(like="relaxation displacement surface").to_numpy()
    assert (moved > 0.01).all()
    assert not any(c.startswith("relaxation") for c in files.feature_columns(labelled))
