"""Rule pair_coefficients: the environment blocks' ordering-independent part on every
template, once per campaign."""

import logging
import time

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
pairs = rounds.pair_coefficients(Campaign.from_params(sm.params.campaign))
files.write_arrays(pairs, sm.output.pairs)
logging.info("pair coefficients %s in %.1f s", {key: value.shape for key, value in pairs.items()},
             time.perf_counter() - start)
