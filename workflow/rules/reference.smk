# Stage 3: one reference calculation (EMT or GPAW) per structure, then one database of all.
# Finished calculations are kept in results/calculations (keyed by atoms and settings), so a
# rerun never computes the same thing twice.


rule compute_reference:
    input:
        batch="results/round_{round}/batch.extxyz",
    output:
        result="results/round_{round}/references/{index}.extxyz",
    log:
        "results/round_{round}/logs/compute_reference_{index}.log",
    benchmark:
        "results/round_{round}/benchmarks/compute_reference_{index}.tsv"
    conda:
        "../../envs/gpaw.yaml"
    threads: RESOURCES["tasks"]
    resources:
        **({"mpi": RESOURCES["launcher"]} if RESOURCES["tasks"] > 1 else {}),
        tasks=RESOURCES["tasks"],
        mem_mb=RESOURCES["mem_mb"],
        runtime=lambda wildcards, attempt: RESOURCES["runtime_min"] * attempt,
        # SLURM: run the job step as an MPI job (only for more than one task)
    params:
        # what decides a result, and the launcher; not memory or run time (a change of
        # those reruns nothing)
        campaign=campaign_params(
            reference=REFERENCE_SETTINGS
            | {"resources": {"launcher": RESOURCES["launcher"]}}
        ),
        store=STORE,
    script:
        "../../scripts/compute_reference.py"


rule gather_references:
    input:
        results=all_references,
        # not read: a damaged result set aside makes this rule run, after its recomputation
        set_aside=set_aside_references,
    output:
        database="results/references.db",
    log:
        "results/logs/gather_references.log",
    conda:
        "../../envs/strata.yaml"
    script:
        "../../scripts/gather_references.py"
