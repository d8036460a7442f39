"""Rule select_batch: the structures of the round to compute."""

import logging

from strata import files, ranking, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
round_ = int(sm.wildcards.round)
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
candidates = files.read_candidates(sm.input.candidates)
labelled = files.read_labelled(sm.input.labelled) if round_ else None
surrogate = ranking.load_surrogate(sm.input.model[0]) if round_ else None
pure = [files.read_result(path) for path in sm.input.pure] if "pure" in sm.input.keys() else None
chance = rounds.better_chance(campaign, round_, candidates, labelled, surrogate)
earlier = [table for _, table in sorted(files.read_chances(sm.input.earlier_chances).items())]
structures = rounds.select(campaign, round_, candidates, labelled, surrogate, pure, chance,
                           earlier)
if round_ and not structures and not candidates.empty:
    logging.info("stop rule: every composition's chance of a better ordering in the pool was "
                 "below %s in %d rounds in a row", campaign.settings.selection.stop_chance,
                 campaign.settings.selection.stop_chance_rounds)
logging.info("round %d: %d structures selected; chance of a better ordering:\n%s", round_,
             len(structures), chance.to_string(index=False))
files.write_csv(chance, sm.output.chance)
files.write_structures(structures, sm.output.batch)
