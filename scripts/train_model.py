"""Rule train_model: the surrogate of the round and the round's metrics."""

import logging
from pathlib import Path

from strata import campaign, evaluation, provenance, ranking

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
labelled = campaign.read_labelled(sm.input.labelled)
if not labelled.energy.notna().any():
    raise RuntimeError(
        "every reference calculation so far failed (see 'reason' in "
        "results/round_*/references/*.extxyz, or `ase db results/references.db "
        "status=failed`); failed calculations are not stored, so fix the reference settings "
        "and rerun"
    )
surrogate = ranking.fit_surrogate(
    labelled[campaign.feature_columns(labelled)], labelled.energy.to_numpy(),
    ranking.query_groups(labelled.composition.to_numpy()), sm.params.model, sm.params.seed,
)
surrogate.save(Path(sm.output.model).with_suffix(""))
# the whole config (not a param: a param would retrain every round when any key changes)
provenance.write_record(sm.output.provenance, sm.config, round_)
table = evaluation.round_metrics(labelled, round_, sm.params.model, sm.params.seed,
                                 sm.params.batch_size, sm.params.ground_truth_energy)
logging.info("round %d metrics:\n%s", round_, table.T.to_string())
campaign.write_csv(table, sm.output.metrics)
