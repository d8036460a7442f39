"""Rule hull: the mixing-energy hull of the structures labelled so far."""

import logging

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
campaign = Campaign.from_params(sm.params.campaign)
tables = rounds.hull(campaign, files.read_labelled(sm.input.labelled),
                     [files.read_result(path) for path in sm.input.pure])
files.write_csv(tables["hull"], sm.output.hull)
files.write_csv(tables["points"], sm.output.points)
logging.info("round %s hull:\n%s", sm.wildcards.round, tables["hull"].to_string(index=False))
