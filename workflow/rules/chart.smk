# Stage 5d: the chart of the structures explored so far. Every computed structure and a
# sample of the round's pool in a 2-D map that keeps the previous round's points in place,
# clustered into named motif families (report.chart).


rule chart:
    input:
        labelled=descriptors_until,
        candidates="results/round_{round}/candidates.csv",
        previous=previous_chart,
        pairs=PAIRS,
    output:
        points="results/round_{round}/chart/points.csv",
        families="results/round_{round}/chart/families.csv",
        quality="results/round_{round}/chart/quality.csv",
        representatives="results/round_{round}/chart/families.extxyz",
    log:
        "results/round_{round}/logs/chart.log",
    benchmark:
        "results/round_{round}/benchmarks/chart.tsv"
    conda:
        "../../envs/strata.yaml"
    params:
        campaign=campaign_params("descriptors", "seed", report={"chart": CHART}),
    script:
        "../../scripts/chart.py"
