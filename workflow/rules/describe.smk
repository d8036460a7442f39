# Stage 4: topological layer descriptors of the structures computed in a round.


rule describe_structures:
    input:
        results=round_references,
    output:
        descriptors="results/round_{round}/descriptors.csv",
    params:
        elements=config["elements"],
        descriptors=config["descriptors"],
    log:
        "results/round_{round}/logs/describe_structures.log",
    script:
        "../../scripts/describe_structures.py"
