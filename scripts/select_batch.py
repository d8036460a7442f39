"""Rule select_batch: the structures of the round to compute."""

import logging

from strata import campaign, selection
from strata.config import templates

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
particle = sm.params.particle
round_ = int(sm.wildcards.round)
shapes = templates(particle)
candidates = campaign.read_candidates(sm.input.candidates)

if round_ == 0 or candidates.empty:
    batch = candidates
else:
    labelled = campaign.read_labelled(sm.input.labelled)
    config = dict(particle, selection=sm.params.selection, batch_size=sm.params.batch_size,
                  pool_size=sm.params.pool_size, seed=sm.params.seed)
    computed = selection.computed_keys(shapes, labelled, config)
    rng = campaign.round_rng(sm.params.seed, round_, "select")
    batch = selection.select_batch(candidates, computed, sm.params.batch_size, config, rng)
logging.info("round %d: %d structures selected", round_, len(batch))
structures = campaign.batch_structures(batch, shapes, particle["elements"], round_)
campaign.write_structures(structures, sm.output.batch)
