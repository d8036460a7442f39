"""Rule describe_structures: labels and layer descriptors of a round's structures."""

import logging

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
table = rounds.describe(campaign, [files.read_result(path) for path in sm.input.results])
logging.info("%d structures, %d failed", len(table), (table["status"] != "ok").sum())
files.write_csv(table, sm.output.descriptors)
