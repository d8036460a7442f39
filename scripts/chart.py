"""Rule chart: the map of the structures explored so far, its motif families and quality."""

import logging
import time

import pandas as pd

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
labelled = files.read_labelled(sm.input.labelled)
previous = pd.read_csv(sm.input.previous[0]) if sm.input.previous else None
tables = rounds.chart(campaign, int(sm.wildcards.round), labelled,
                      files.read_candidates(sm.input.candidates), previous)
for name in ("points", "families", "quality"):
    files.write_csv(tables[name], getattr(sm.output, name))
files.write_structures(rounds.chart_representatives(campaign, labelled, tables["families"]),
                       sm.output.representatives)
logging.info("round %s chart in %.1f s: %s", sm.wildcards.round, time.perf_counter() - start,
             tables["quality"].iloc[0].to_dict())
