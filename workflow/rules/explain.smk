# Stage 5b: what the model of a round has learnt (SHAP values, SHAP mass per region, region
# ablation and layer-weight table), as tables the round report renders.

EXPLAIN_KEYS = ("shap_samples", "ablation", "weighting_schemes")
EXPLAIN_REPORT = {key: config["report"][key] for key in EXPLAIN_KEYS}


rule explain_model:
    input:
        labelled=descriptors_until,
        model="results/round_{round}/model.txt",
        model_sidecar="results/round_{round}/model.json",
        pairs=PAIRS,
    output:
        shap="results/round_{round}/explain/shap.csv",
        regions="results/round_{round}/explain/regions.csv",
        ablation="results/round_{round}/explain/ablation.csv",
        weighting="results/round_{round}/explain/weighting.csv",
        prototypes="results/round_{round}/explain/prototypes.csv",
        prototype_features="results/round_{round}/explain/prototype_features.csv",
        environments="results/round_{round}/explain/prototypes.extxyz",
    log:
        "results/round_{round}/logs/explain_model.log",
    benchmark:
        "results/round_{round}/benchmarks/explain_model.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params(
            "descriptors", "seed", "batch_size", report=EXPLAIN_REPORT
        ),
    script:
        "../../scripts/explain_model.py"
