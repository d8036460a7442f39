# Stage 4: topological layer descriptors of the structures computed in a round.


rule describe_structures:
    input:
        results=round_references,
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
