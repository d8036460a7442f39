"""Rule generate_candidates: the initial set (round 0) or the model-guided pool."""

import logging

from strata import files, ranking, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
labelled = files.read_labelled(sm.input.labelled) if round_ else None
surrogate = ranking.load_surrogate(sm.input.model[0]) if round_ else None
candidates = rounds.generate(campaign, round_, labelled, surrogate)
if round_ and candidates.empty:
    logging.info("stop rule: no better energy for %s rounds; no new candidates",
                 campaign.settings.selection.stop_after)
logging.info("round %d: %d candidates", round_, len(candidates))
files.write_candidates(candidates, sm.output.candidates)
