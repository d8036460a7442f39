"""Rule report_campaign: campaign report, metrics of every round, best structures."""

import logging
from pathlib import Path

import pandas as pd

from strata import campaign, report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
labelled = campaign.read_labelled(sm.input.labelled)
campaign.write_csv(metrics, sm.output.metrics)
campaign.write_structures(report.best_results(labelled, sm.input.results), sm.output.best)
round_names = [f"{r:02d}" for r in metrics["round"]]
Path(sm.output.report).write_text(report.campaign_page(metrics, round_names))
