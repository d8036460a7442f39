# Stage 4: topological layer descriptors of the structures computed in a round; the
# environment blocks' pair coefficients on the templates, once per campaign.


rule describe_structures:
    input:
        results=round_references,
        pairs=PAIRS,
    output:
        descriptors="results/round_{round}/descriptors.csv",
    log:
        "results/round_{round}/logs/describe_structures.log",
    benchmark:
        "results/round_{round}/benchmarks/describe_structures.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params("descriptors"),
    script:
        "../../scripts/describe_structures.py"


rule pair_coefficients:
    output:
        pairs="results/pair_coefficients.npz",
    log:
        "results/logs/pair_coefficients.log",
    benchmark:
        "results/benchmarks/pair_coefficients.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params("descriptors"),
    script:
        "../../scripts/pair_coefficients.py"
