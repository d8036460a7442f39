# Stage 6: the report of every round, and the campaign's report, metrics and best structures.


rule report_round:
    input:
        metrics=metrics_until,
        labelled=descriptors_until,
        model="results/round_{round}/model.txt",
        model_sidecar="results/round_{round}/model.json",
        batch="results/round_{round}/batch.extxyz",
        results=references_until,
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
        particle=PARTICLE,
        descriptors=config["descriptors"],
        report=config["report"],
        model=config["model"],
        seed=config["seed"],
        batch_size=config["batch_size"],
        rounds=ROUNDS,
    script:
        "../../scripts/report_round.py"


rule report_campaign:
    input:
        metrics=expand("results/round_{round}/metrics.csv", round=ROUNDS),
        labelled=expand("results/round_{round}/descriptors.csv", round=ROUNDS),
        reports=expand("results/round_{round}/report.html", round=ROUNDS),
        results=all_references,
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
        particle=PARTICLE,
        descriptors=config["descriptors"],
        report=config["report"],
    script:
        "../../scripts/report_campaign.py"
