# Shared by the rules: round names, the config sections the scripts need, earlier rounds' files.
import glob

from snakemake.logging import logger
from strata.files import read_structures
from strata.calculators import calculator_settings
from strata.store import DAMAGED, repair_references

ROUNDS = [f"{r:02d}" for r in range(config["rounds"])]
PARTICLE = {key: config[key] for key in ("elements", "composition", "cluster")}
# the calculation store, and what its keys hold besides the atoms (rule compute_reference)
STORE = "results/calculations"
REFERENCE_SETTINGS = calculator_settings(config["reference"])
CHECKED = set()  # reference result files checked for damage by this run (references_of)


def campaign_params(*keys, **parts):
    """The particle, the config keys a job depends on and ``parts`` of sections (changing one
    reruns the job; a key left out takes the schema's default in the job)."""
    return {**PARTICLE, **{key: config[key] for key in keys}, **parts}


# the environment blocks' pair coefficients, computed once per campaign (rule
# pair_coefficients) for every job that describes orderings; none for the layers alone
PAIRS = (
    ["results/pair_coefficients.npz"]
    if set(config["descriptors"]["blocks"]) - {"layers"}
    else []
)
RESOURCES = config["reference"]["resources"]
# the report stages that can be switched off, and their settings
FORMULA = config["report"]["formula"]
CHART = config["report"]["chart"]
# the mixing-energy hull (hull.enabled): the pure particles' result files, one per element
HULL = config["hull"]["enabled"]
PURE_REFERENCES = expand(
    "results/pure/references/{index}.extxyz",
    index=[f"{i:03d}" for i in range(len(config["elements"]))],
)


wildcard_constraints:
    round=r"\d{2}",
    index=r"\d{3}",


localrules:
    pair_coefficients,
    generate_candidates,
    select_batch,
    describe_structures,
    train_model,
    explain_model,
    formula,
    chart,
    pure_particles,
    hull,
    campaign_hull,
    best_so_far,
    report_round,
    gather_references,
    report_campaign,


def descriptors_before(wildcards):
    """Labelled tables of the rounds before this one."""
    rounds = ROUNDS[: int(wildcards.round)]
    return expand("results/round_{round}/descriptors.csv", round=rounds)


def descriptors_until(wildcards):
    """Labelled tables of this round and every earlier one."""
    rounds = ROUNDS[: int(wildcards.round) + 1]
    return expand("results/round_{round}/descriptors.csv", round=rounds)


def previous_model(wildcards):
    """The model of the round before (none for round 0)."""
    round_ = int(wildcards.round)
    return [f"results/round_{round_ - 1:02d}/model.txt"] if round_ else []


def previous_chart(wildcards):
    """The chart points of the round before (none for round 0)."""
    round_ = int(wildcards.round)
    return [f"results/round_{round_ - 1:02d}/chart/points.csv"] if round_ else []


def formula_and_chart(wildcards):
    """The formula and chart tables of a round, for those of the two stages that are on."""
    round_ = f"results/round_{wildcards.round}"
    files = {}
    if FORMULA["enabled"]:
        files.update(
            formula=f"{round_}/explain/formula.csv",
            formula_parity=f"{round_}/explain/formula_parity.csv",
        )
    if CHART["enabled"]:
        files.update(
            chart_points=f"{round_}/chart/points.csv",
            chart_families=f"{round_}/chart/families.csv",
            chart_quality=f"{round_}/chart/quality.csv",
            chart_representatives=f"{round_}/chart/families.extxyz",
        )
    return files


def formula_and_chart_of_every_round(wildcards):
    """Every round's formula table and the last round's chart points, of the stages on."""
    files = {}
    if FORMULA["enabled"]:
        files["formulas"] = expand(
            "results/round_{round}/explain/formula.csv", round=ROUNDS
        )
    if CHART["enabled"]:
        files["chart_points"] = f"results/round_{ROUNDS[-1]}/chart/points.csv"
    return files


def hull_tables(wildcards):
    """A round's hull, its points and the round before's hull (hull.enabled; none else)."""
    round_ = int(wildcards.round)
    if not HULL:
        return {}
    files = {
        "hull": f"results/round_{round_:02d}/hull.csv",
        "hull_points": f"results/round_{round_:02d}/hull_points.csv",
    }
    if round_:
        files["previous_hull"] = f"results/round_{round_ - 1:02d}/hull.csv"
    return files


def hull_weights_inputs(wildcards):
    """The pure particles' results, with which a round after round 0 shares its batch by
    the chance to lower the hull (hull.enabled)."""
    if not HULL or not int(wildcards.round):
        return {}
    return {"pure": PURE_REFERENCES}


def hull_tables_of_every_round(wildcards):
    """Every round's hull table (hull.enabled; none else)."""
    return (
        {"hulls": expand("results/round_{round}/hull.csv", round=ROUNDS)}
        if HULL
        else {}
    )


def references_of(round_):
    """Reference result files of one round (known once select_batch has run).

    The first time a file is asked for, before Snakemake looks at it and any job reads it, a
    damaged one is restored from the store, or set aside for compute_reference to compute
    it again (strata.store.repair_references), with one log line.
    """
    batch = checkpoints.select_batch.get(round=round_).output.batch
    n_structures = len(read_structures(batch))
    paths = expand(
        "results/round_{round}/references/{index}.extxyz",
        round=round_,
        index=[f"{i:03d}" for i in range(n_structures)],
    )
    unchecked = {i: path for i, path in enumerate(paths) if path not in CHECKED}
    CHECKED.update(unchecked.values())
    for line in repair_references(
        batch, unchecked, REFERENCE_SETTINGS, STORE, dry_run=workflow.dryrun
    ):
        logger.warning(line)
    return paths


def round_references(wildcards):
    """Reference result files of the round of ``wildcards``."""
    return references_of(wildcards.round)


def all_references(wildcards):
    """Reference result files of every round."""
    return [path for round_ in ROUNDS for path in references_of(round_)]


def set_aside_references(wildcards):
    """Damaged result files set aside (once every round's files are checked): a new one makes
    gather_references run, and Snakemake computes the missing result it needs first."""
    all_references(wildcards)
    return sorted(glob.glob(f"results/round_*/references/*.extxyz{DAMAGED}*"))


def metrics_until(wildcards):
    """Metric tables of this round and every earlier one."""
    rounds = ROUNDS[: int(wildcards.round) + 1]
    return expand("results/round_{round}/metrics.csv", round=rounds)


def chances_before(wildcards):
    """Tables of the chance that the pool held a better ordering, of every earlier round."""
    rounds = ROUNDS[: int(wildcards.round)]
    return expand("results/round_{round}/chance.csv", round=rounds)


def chances_until(wildcards):
    """Tables of the chance that the pool held a better ordering, this round and earlier."""
    rounds = ROUNDS[: int(wildcards.round) + 1]
    return expand("results/round_{round}/chance.csv", round=rounds)
