# Stage 5: the LambdaRank surrogate, trained on every structure labelled so far; the metrics
# of the round (the new batch scores the model that chose it); the out-of-fold scores of
# every label (the cross-validation, which the formula stage compares with).


rule train_model:
    input:
        labelled=descriptors_until,
        pairs=PAIRS,
    output:
        model="results/round_{round}/model.txt",
        model_sidecar="results/round_{round}/model.json",
        metrics="results/round_{round}/metrics.csv",
        cv_scores="results/round_{round}/cv_scores.csv",
        provenance="results/round_{round}/provenance.json",
    log:
        "results/round_{round}/logs/train_model.log",
    benchmark:
        "results/round_{round}/benchmarks/train_model.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        # not ground_truth_energy: the regret is the reports' (a change reruns only them)
        campaign=campaign_params("descriptors", "model", "batch_size", "seed"),
    script:
        "../../scripts/train_model.py"
