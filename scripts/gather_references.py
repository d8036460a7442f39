"""Rule gather_references: every reference result into results/references.db."""

import logging

from strata import database

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
n_rows = database.gather(snakemake.input.results, snakemake.output.database)  # noqa: F821
logging.info("%d results gathered", n_rows)
