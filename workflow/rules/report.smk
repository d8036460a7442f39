# Stage 6: the best structures so far and the report of every round, and the campaign's
# report, metrics and best structures.


rule best_so_far:
    input:
        # the best structures up to the round before (none in round 0)
        previous=lambda wildcards: (
            [f"results/round_{int(wildcards.round) - 1:02d}/best.extxyz"]
            if int(wildcards.round)
            else []
        ),
        results=round_references,
    output:
        best="results/round_{round}/best.extxyz",
    log:
        "results/round_{round}/logs/best_so_far.log",
    benchmark:
        "results/round_{round}/benchmarks/best_so_far.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        per_composition=config["report"]["best_structures"],
    script:
        "../../scripts/best_so_far.py"


rule report_round:
    input:
        unpack(formula_and_chart),
        unpack(hull_tables),
        metrics=metrics_until,
        chances=chances_until,
        labelled=descriptors_until,
        shap="results/round_{round}/explain/shap.csv",
        regions="results/round_{round}/explain/regions.csv",
        ablation="results/round_{round}/explain/ablation.csv",
        weighting="results/round_{round}/explain/weighting.csv",
        prototypes="results/round_{round}/explain/prototypes.csv",
        prototype_features="results/round_{round}/explain/prototype_features.csv",
        environments="results/round_{round}/explain/prototypes.extxyz",
        best="results/round_{round}/best.extxyz",
    output:
        report=report(
            "results/round_{round}/report.html",
            caption="../report/round.rst",
            category="Rounds",
            labels={"round": "{round}"},
        ),
    log:
        "results/round_{round}/logs/report_round.log",
    benchmark:
        "results/round_{round}/benchmarks/report_round.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        elements=config["elements"],
        descriptors=config["descriptors"],
        best_structures=config["report"]["best_structures"],
        ablation=config["report"]["ablation"],
        rounds=ROUNDS,
        ground_truth_energy=config["ground_truth_energy"],
    script:
        "../../scripts/report_round.py"


rule report_campaign:
    input:
        unpack(formula_and_chart_of_every_round),
        unpack(hull_tables_of_every_round),
        metrics=expand("results/round_{round}/metrics.csv", round=ROUNDS),
        chances=expand("results/round_{round}/chance.csv", round=ROUNDS),
        labelled=expand("results/round_{round}/descriptors.csv", round=ROUNDS),
        reports=expand("results/round_{round}/report.html", round=ROUNDS),
        best=f"results/round_{ROUNDS[-1]}/best.extxyz",
    output:
        report=report(
            "results/report.html",
            caption="../report/campaign.rst",
            category="Campaign",
        ),
        metrics=report(
            "results/metrics.csv", caption="../report/metrics.rst", category="Campaign"
        ),
        best=report(
            "results/best_structures.extxyz",
            caption="../report/best_structures.rst",
            category="Campaign",
        ),
    log:
        "results/logs/report_campaign.log",
    conda:
        "../../envs/strata.yaml"
    params:
        elements=config["elements"],
        descriptors=config["descriptors"],
        best_structures=config["report"]["best_structures"],
        ground_truth_energy=config["ground_truth_energy"],
    script:
        "../../scripts/report_campaign.py"
