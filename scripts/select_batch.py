"""Rule select_batch: the structures of the round to compute."""

import logging

from strata import files, ranking, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
campaign = Campaign.from_params(sm.params.campaign)
candidates = files.read_candidates(sm.input.candidates)
labelled = files.read_labelled(sm.input.labelled) if round_ else None
weighted = "pure" in sm.input.keys()  # a scan with its hull, after round 0
structures = rounds.select(
    campaign, round_, candidates, labelled,
    ranking.load_surrogate(sm.input.model) if weighted else None,
    [files.read_result(path) for path in sm.input.pure] if weighted else None)
logging.info("round %d: %d structures selected", round_, len(structures))
files.write_structures(structures, sm.output.batch)
