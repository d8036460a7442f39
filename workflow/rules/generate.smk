# Stage 1: candidate orderings. Round 0: the diverse initial set; later rounds: a large pool
# built by search guided by the model of the round before, scored by it.


rule generate_candidates:
    input:
        labelled=descriptors_before,
        model=previous_model,
        pairs=PAIRS,
    output:
        candidates="results/round_{round}/candidates.csv",
    log:
        "results/round_{round}/logs/generate_candidates.log",
    benchmark:
        "results/round_{round}/benchmarks/generate_candidates.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params(
            "descriptors",
            "search",
            "selection",
            "initial_size",
            "initial_motifs",
            "initial_every",
            "pool_size",
            "seed",
        ),
    script:
        "../../scripts/generate_candidates.py"
