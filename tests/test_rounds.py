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
    "seed": 8,  # its round 2 has members that disagree, and stop_after 1 stops it early
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
    other = in_process(dict(SMALL, seed=SMALL["seed"] + 1, rounds=2))
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


# ----------------------------------------------------------------------------- formula, chart

@pytest.fixture(scope="module")
def charted(campaign_rounds):
    """The chart job after each round of the small campaign, each from the one before."""
    campaign = Campaign.from_config(as_snakemake_reads_it(SMALL))
    charts, previous = [], None
    for done in campaign_rounds:
        charts.append(rounds.chart(campaign, done.round, done.labelled, done.candidates,
                                   previous))
        previous = charts[-1]["points"]
    return campaign, charts


def test_the_chart_shows_every_computed_structure_the_batch_and_a_pool_sample(
        campaign_rounds, charted):
    campaign, charts = charted
    settings = campaign.settings.report.chart
    background = None
    for done, chart in zip(campaign_rounds, charts, strict=True):
        points = chart["points"]
        ok = done.labelled[done.labelled["status"] == "ok"]
        computed = points[points["kind"].isin(["computed", "batch"])]
        assert sorted(computed["structure_id"]) == sorted(ok["structure_id"])
        batch = computed.loc[computed["kind"] == "batch", "structure_id"]
        assert set(batch) == set(ok.loc[ok["round"] == done.round, "structure_id"])
        # the same random orderings anchor the map in every round
        random = points[points["kind"] == "random"].set_index("structure_id")
        assert 0 < len(random) <= settings.background
        assert (random["origin"] == "random").all() and random["energy"].isna().all()
        if background is not None:
            assert list(random.index) == list(background.index)
        background = random
        # never a computed structure again in grey; no pool in round 0 (its candidates are
        # the initial set)
        pool = points[points["kind"] == "pool"]
        assert len(pool) <= settings.pool_sample
        assert (len(pool) == 0) == (done.round == 0)
        assert set(pool["composition"]) <= set(ok["composition"])
        assert np.isfinite(points[["x", "y"]].to_numpy()).all()
        best = computed.loc[computed["e_rel"].idxmin()]
        assert best["e_rel"] == 0 and best["energy"] == ok["energy"].min()


def test_a_new_round_adds_points_and_keeps_the_old_ones_in_place(charted):
    """The map is not turned, mirrored, rescaled or reshaped by a new round: the computed
    points and the random background keep their place within a quarter of the map's spread
    (measured here: computed 0.16 and 0.12, background 0.09 and 0.07; on the default campaign
    the computed points moved 0.75 from round 0 to 1 while the pool sample was embedded with
    them, 0.05 since it is placed into the finished map)."""
    _, charts = charted
    for before, after in zip(charts, charts[1:], strict=False):
        for kinds in (["computed", "batch"], ["random"]):
            old = before["points"][before["points"]["kind"].isin(kinds)]
            new = after["points"].set_index("structure_id").loc[old["structure_id"]]
            moved = np.linalg.norm(new[["x", "y"]].to_numpy() - old[["x", "y"]].to_numpy(),
                                   axis=1)
            spread = np.sqrt(((old[["x", "y"]] - old[["x", "y"]].mean()) ** 2).sum(axis=1)
                             .mean())
            if kinds[0] == "computed":
                assert np.median(moved) / spread == pytest.approx(
                    after["quality"]["stability"].iloc[0])
            assert np.median(moved) / spread < 0.25, kinds


def test_the_chart_is_reproducible(campaign_rounds, charted):
    campaign, charts = charted
    done = campaign_rounds[1]
    again = rounds.chart(campaign, done.round, done.labelled, done.candidates,
                         charts[0]["points"])
    assert again["points"].equals(charts[1]["points"])


def test_family_representatives_are_their_lowest_members(campaign_rounds, charted):
    campaign, charts = charted
    labelled, chart = campaign_rounds[-1].labelled, charts[-1]
    pictured = rounds.chart_representatives(campaign, labelled, chart["families"])
    points = chart["points"]
    for atoms, family in zip(pictured, chart["families"].itertuples(), strict=True):
        members = points[points["family"] == family.family]
        assert atoms.info["structure_id"] == members.loc[members["e_rel"].idxmin(),
                                                         "structure_id"]
        row = labelled[labelled["structure_id"] == atoms.info["structure_id"]].iloc[0]
        assert atoms.get_chemical_symbols() == [campaign.elements[c] for c in row["codes"]]


def test_the_formula_job_screens_the_explain_stage_shap_values(campaign_rounds):
    campaign = Campaign.from_config(as_snakemake_reads_it(SMALL))
    done = campaign_rounds[-1]
    shap = rounds.explain(campaign, done.labelled, done.surrogate)["shap"]
    tables, text = rounds.formula(campaign, done.labelled, done.surrogate, shap, done.cv_scores)
    assert list(tables["formula"]["method"]) == ["formula", "linear fit", "model"]
    assert len(tables["parity"]) == (done.labelled["status"] == "ok").sum()
    expression = tables["formula"]["expression"].iloc[0]
    assert expression.startswith("ΔE ≈") and expression in text
    # its variables are among the model's most important features
    top = shap[[c for c in shap.columns if "." in c]].abs().mean().nlargest(
        3 * campaign.settings.report.formula.features).index
    variables = [v.rsplit("(", 1)[1].rstrip(")")
                 for v in tables["formula"]["variables"].iloc[0].split("; ")]
    assert set(variables) <= set(top)


# ----------------------------------------------------------------------------- hull

SCAN = {**SMALL, "composition": {"scan": {"Au": [3, 10]}, "step": 1}, "hull": {"enabled": True},
        "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": 4.0},
        "rounds": 2, "initial_size": 2, "batch_size": 4}


def test_the_hull_job_measures_mixing_against_the_pure_particles():
    campaign = Campaign.from_config(as_snakemake_reads_it(SCAN))
    particles = rounds.pure_particles(campaign)
    assert [a.info["composition"] for a in particles] == ["Pt13", "Au13"]
    pure = [files.round_trip(rounds.reference(campaign, atoms)[0], files.write_result,
                             files.read_result, ".extxyz") for atoms in particles]
    *_, done = rounds.run(campaign)
    tables = rounds.hull(campaign, done.labelled, pure)
    hull, points = tables["hull"], tables["points"]
    assert len(hull) == 8 + 2 and len(points) == len(done.labelled)
    # E_mix = (E − Σ n_i E_i / N) / N, checked on one structure by hand
    row = done.labelled.iloc[0]
    counts = campaign.composition_counts()[row["composition"]]
    energies = rounds.pure_energies(pure)
    by_hand = (row["energy"] - (counts[0] * energies["Pt"] + counts[1] * energies["Au"]) / 13) / 13
    assert np.isclose(points.set_index("structure_id").loc[row["structure_id"], "e_mix"], by_hand)
    # the best per composition, the pure ends on the hull at zero
    best = points.groupby("composition")["e_mix"].min()
    mixed = hull.set_index("composition").loc[best.index]
    assert np.allclose(mixed["e_mix"], best)
    assert hull["on_hull"].iloc[[0, -1]].all() and (hull["e_mix"].iloc[[0, -1]] == 0).all()
    # a failed pure particle stops the job with a message naming it
    failed = pure[0].copy()
    failed.info.update(status="failed", reason="SCF did not converge")
    with pytest.raises(ValueError, match="pure Pt particle failed .SCF did not converge"):
        rounds.hull(campaign, done.labelled, [failed, pure[1]])


def test_a_sparse_initial_set_leaves_no_composition_without_a_weight():
    """initial_every: round 0 at every 3rd composition (and the last); the hull weights of
    round 1 cover the compositions nothing was computed at yet, and give them the first
    turns (weight 1: nothing can settle them), so round 1's exploit picks go to them."""
    campaign = Campaign.from_config(as_snakemake_reads_it({**SCAN, "initial_every": 3}))
    pure = [rounds.reference(campaign, atoms)[0] for atoms in rounds.pure_particles(campaign)]
    done = next(iter(rounds.run(campaign)))
    assert sorted(set(done.labelled["composition"])) == ["Au10Pt3", "Au3Pt10", "Au6Pt7",
                                                        "Au9Pt4"]
    surrogate = rounds.fit_model(campaign, done.labelled)
    candidates = rounds.generate(campaign, 1, done.labelled, surrogate)
    assert set(candidates["composition"]) == set(campaign.composition_counts())
    weights = rounds.hull_weights(campaign, candidates, done.labelled, surrogate, pure)
    assert set(weights.index) == set(campaign.composition_counts())
    assert ((weights >= 0) & (weights <= 1)).all()
    computed = set(done.labelled["composition"])
    assert (weights.drop(sorted(computed)) == 1).all()
    assert (weights.loc[sorted(computed)] < 1).all()
    batch = rounds.select(campaign, 1, candidates, done.labelled, surrogate, pure)
    assert 0 < len(batch) <= campaign.settings.batch_size
    exploit = {a.info["composition"] for a in batch if a.info["pick"] == "exploit"}
    assert exploit and not exploit & computed


def test_the_chance_of_a_better_ordering_is_recorded_and_can_stop_the_campaign(
        campaign_rounds):
    """Each round after 0 records, per composition, the share of the ensemble's members that
    see a better ordering in the pool; ``selection.stop_chance`` above every chance stops
    the round (no batch), below it the round goes on."""
    assert campaign_rounds[0].chance.empty
    members = SMALL["model"]["ensemble_size"]
    for record in campaign_rounds[1:]:
        table = record.chance
        assert list(table["group"]) == ["Au27Pt28"]
        assert table["candidates"].iloc[0] == len(record.candidates)
        best = record.labelled[record.labelled["round"] < record.round]["energy"].min()
        assert table["energy"].iloc[0] == pytest.approx(best)
        chance = table["chance"].iloc[0]
        assert 0 <= chance <= 1 and chance * members == pytest.approx(round(chance * members))
    last, before = campaign_rounds[2], campaign_rounds[1]
    chance = last.chance["chance"].iloc[0]
    assert 0 < chance < 1  # this seed's round 2: the members disagree
    for stop_chance, stops in ((None, False), (chance, False), (1.0, True)):
        campaign = Campaign.from_config(as_snakemake_reads_it(
            {**SMALL, "selection": {"stop_chance": stop_chance, "stop_chance_rounds": 1}}))
        batch = rounds.select(campaign, 2, last.candidates, before.labelled, before.surrogate,
                              None, last.chance)
        assert (len(batch) == 0) == stops
    # stop_chance_rounds 2: this round's chance and the one before must both be below 1
    campaign = Campaign.from_config(as_snakemake_reads_it(
        {**SMALL, "selection": {"stop_chance": 1.0, "stop_chance_rounds": 2}}))
    low = before.chance.assign(chance=0.5)
    for earlier, stops in (((), False), ((low,), True), ((campaign_rounds[0].chance, low), True),
                           ((low, before.chance.assign(chance=1.0)), False),
                           ((campaign_rounds[0].chance,), False)):
        batch = rounds.select(campaign, 2, last.candidates, before.labelled, before.surrogate,
                              None, last.chance, earlier)
        assert (len(batch) == 0) == stops
