"""Rule report_campaign: campaign report, metrics of every round, best structures."""

import logging
from pathlib import Path

import pandas as pd

from strata import campaign, report
from strata.descriptors import DescriptorSettings

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
particle, section = sm.params.particle, sm.params.report
elements = list(particle["elements"])
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
labelled = campaign.read_labelled(sm.input.labelled)
campaign.write_csv(metrics, sm.output.metrics)
campaign.write_structures(report.best_results(labelled, sm.input.results), sm.output.best)
settings = DescriptorSettings.from_config(elements, sm.params.descriptors)
pictured = report.best_results(labelled, sm.input.results, section["best_structures"])
results_dir = Path(sm.output.report).parent
logs = {r: results_dir / f"round_{r:02d}" / "logs" for r in sorted(set(labelled["round"]))}
round_names = [f"{r:02d}" for r in metrics["round"]]
Path(sm.output.report).write_text(report.campaign_page(
    metrics, round_names, labelled=labelled, best=pictured[: section["best_structures"]],
    settings=settings, elements=elements, times=report.stage_times(labelled, logs),
))
