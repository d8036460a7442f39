# Stage 3: one reference calculation (EMT or GPAW) per structure, then one database of all.
# Finished calculations are kept in results/calculations (keyed by atoms and settings), so a
# rerun never computes the same thing twice.


rule compute_reference:
    input:
        batch="results/round_{round}/batch.extxyz",
    output:
        result="results/round_{round}/references/{index}.extxyz",
    params:
        settings=calculator_settings(config["reference"]),
        launcher=RESOURCES["launcher"],
        store="results/calculations",
    threads: RESOURCES["tasks"]
    resources:
        tasks=RESOURCES["tasks"],
        mem_mb=RESOURCES["mem_mb"],
        runtime=lambda wildcards, attempt: RESOURCES["runtime_min"] * attempt,
    log:
        "results/round_{round}/logs/compute_reference_{index}.log",
    script:
        "../../scripts/compute_reference.py"


rule gather_references:
    input:
        results=all_references,
    output:
        database="results/references.db",
    log:
        "results/logs/gather_references.log",
    script:
        "../../scripts/gather_references.py"
