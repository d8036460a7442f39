"""Rule report_round: the HTML report of one round."""

import logging
from pathlib import Path

import pandas as pd

from strata import campaign, report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
labelled = campaign.read_labelled(sm.input.labelled)
Path(sm.output.report).write_text(report.round_page(round_, metrics, labelled))
