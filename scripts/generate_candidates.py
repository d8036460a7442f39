"""Rule generate_candidates: the initial set (round 0) or the model-guided pool."""

import logging

from strata import campaign, ranking, search, selection
from strata.config import compositions, templates

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
particle = sm.params.particle
round_ = int(sm.wildcards.round)
rng = campaign.round_rng(sm.params.seed, round_, "generate")
shapes = templates(particle)
config = dict(particle, descriptors=sm.params.descriptors, model=sm.params.model,
              selection=sm.params.selection, pool_size=sm.params.pool_size,
              batch_size=sm.params.batch_size, seed=sm.params.seed,
              initial_size=sm.params.initial_size, initial_motifs=sm.params.initial_motifs,
              compositions=compositions(particle, len(shapes[0])))

if round_ == 0:
    candidates = search.initial_pool(shapes, config, rng)
else:
    labelled = campaign.read_labelled(sm.input.labelled)
    if selection.should_stop(labelled, config):
        logging.info("stop rule: no better energy for %s rounds; no new candidates",
                     sm.params.selection["stop_after"])
        candidates = campaign.empty_candidates()
    else:
        surrogate = ranking.load_surrogate(sm.input.model[0])
        candidates = search.candidate_pool(shapes, labelled, surrogate, config, rng)
logging.info("round %d: %d candidates", round_, len(candidates))
campaign.write_candidates(candidates, sm.output.candidates)
