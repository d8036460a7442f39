# Stage 2: the batch to compute. Round 0 takes the whole initial set; later rounds take the
# top of the scored pool with an exploration share, never a structure already computed; a
# composition scan with its hull shares the batch among compositions by their chance to
# lower the hull. The model ensemble's chance that the pool beats the best computed
# structure is written each round (the stop rule selection.stop_chance reads it, with the
# earlier rounds' for selection.stop_chance_rounds).
# A checkpoint: the number of reference jobs of a round is known once it has run.


checkpoint select_batch:
    input:
        unpack(hull_weights_inputs),
        candidates="results/round_{round}/candidates.csv",
        labelled=descriptors_before,
        model=previous_model,
        earlier_chances=chances_before,
        pairs=PAIRS,
    output:
        batch="results/round_{round}/batch.extxyz",
        chance="results/round_{round}/chance.csv",
    log:
        "results/round_{round}/logs/select_batch.log",
    benchmark:
        "results/round_{round}/benchmarks/select_batch.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        # a scan with its hull (hull.enabled) shares the batch by the chance to lower it
        campaign=campaign_params(
            "descriptors",
            "model",
            "search",
            "selection",
            "batch_size",
            "pool_size",
            "seed",
            *(["hull"] if HULL else []),
        ),
    script:
        "../../scripts/select_batch.py"
