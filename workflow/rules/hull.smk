# Stage 5e (hull.enabled): the mixing-energy convex hull of a composition scan. The pure
# particles are computed once, like a batch and through the same job, as the references of
# the excess energy; every round tables the best ordering per composition against the hull.


rule pure_particles:
    output:
        batch="results/pure/batch.extxyz",
    log:
        "results/pure/logs/pure_particles.log",
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params(),
    script:
        "../../scripts/pure_particles.py"


use rule compute_reference as compute_pure with:
    input:
        batch="results/pure/batch.extxyz",
    output:
        result="results/pure/references/{index}.extxyz",
    log:
        "results/pure/logs/compute_reference_{index}.log",
    benchmark:
        "results/pure/benchmarks/compute_reference_{index}.tsv"


rule hull:
    input:
        labelled=descriptors_until,
        pure=PURE_REFERENCES,
    output:
        hull="results/round_{round}/hull.csv",
        points="results/round_{round}/hull_points.csv",
    log:
        "results/round_{round}/logs/hull.log",
    benchmark:
        "results/round_{round}/benchmarks/hull.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params(),
    script:
        "../../scripts/hull.py"


rule campaign_hull:
    input:
        hull=f"results/round_{ROUNDS[-1]}/hull.csv",
    output:
        hull=report(
            "results/hull.csv", caption="../report/hull.rst", category="Campaign"
        ),
    log:
        "results/logs/campaign_hull.log",
    conda:
        "../../envs/strata.yaml"
    script:
        "../../scripts/campaign_hull.py"
