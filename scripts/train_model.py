"""Rule train_model: the surrogate of the round and the round's metrics."""

import logging
from pathlib import Path

from strata import files, provenance, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
labelled = files.read_labelled(sm.input.labelled)
surrogate, metrics, cv_scores = rounds.train(campaign, round_, labelled)
surrogate.save(Path(sm.output.model).with_suffix(""))
# the whole config (not a param: a param would retrain every round when any key changes)
provenance.write_record(sm.output.provenance, sm.config, round_)
logging.info("round %d metrics:\n%s", round_, metrics.T.to_string())
files.write_csv(metrics, sm.output.metrics)
files.write_csv(cv_scores, sm.output.cv_scores)
