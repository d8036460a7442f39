# Stage 5c: a formula of stability. The features of largest mean |SHAP| (explain stage),
# distilled by symbolic regression into a compact expression of the within-composition
# energy, cross-validated next to a straight line and the model (report.formula).


rule formula:
    input:
        labelled=descriptors_until,
        model="results/round_{round}/model.txt",
        model_sidecar="results/round_{round}/model.json",
        shap="results/round_{round}/explain/shap.csv",
        cv_scores="results/round_{round}/cv_scores.csv",
    output:
        formula="results/round_{round}/explain/formula.csv",
        parity="results/round_{round}/explain/formula_parity.csv",
        text="results/round_{round}/explain/formula.txt",
    log:
        "results/round_{round}/logs/formula.log",
    benchmark:
        "results/round_{round}/benchmarks/formula.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params(
            "descriptors", "seed", "batch_size", report={"formula": FORMULA}
        ),
    script:
        "../../scripts/formula.py"
