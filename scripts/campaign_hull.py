"""Rule campaign_hull: results/hull.csv, the hull of the campaign's last round."""

import logging

import pandas as pd

from strata import files

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
table = pd.read_csv(sm.input.hull)
files.write_csv(table, sm.output.hull)
logging.info("%d compositions, %d on the hull", len(table), int(table["on_hull"].sum()))
