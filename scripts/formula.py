"""Rule formula: the round's formula of stability, its accuracy table and parity data."""

import logging
import time
from pathlib import Path

import pandas as pd

from strata import files, ranking, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
campaign = Campaign.from_params(sm.params.campaign)
tables, text = rounds.formula(campaign, files.read_labelled(sm.input.labelled),
                              ranking.load_surrogate(sm.input.model), pd.read_csv(sm.input.shap),
                              pd.read_csv(sm.input.cv_scores))
files.write_csv(tables["formula"], sm.output.formula)
files.write_csv(tables["parity"], sm.output.parity)
Path(sm.output.text).write_text(text)
logging.info("round %s formula in %.1f s:\n%s", sm.wildcards.round,
             time.perf_counter() - start, text)
