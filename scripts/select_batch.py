"""Rule select_batch: the structures of the round to compute."""

import logging

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
campaign = Campaign.from_params(sm.params.campaign)
candidates = files.read_candidates(sm.input.candidates)
labelled = files.read_labelled(sm.input.labelled) if round_ else None
structures = rounds.select(campaign, round_, candidates, labelled)
logging.info("round %d: %d structures selected", round_, len(structures))
files.write_structures(structures, sm.output.batch)
