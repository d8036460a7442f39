"""Rule explain_model: SHAP values, SHAP mass per region, ablation, layer-weight and prototype
tables, and the prototypes' exemplar environments."""

import logging
import time

from strata import files, ranking, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
labelled = files.read_labelled(sm.input.labelled)
surrogate = ranking.load_surrogate(sm.input.model)
# only the report keys the explanation reads are params; the others take the schema's defaults
campaign = Campaign.from_params(sm.params.campaign, files.read_pairs(sm.input.pairs))
tables = rounds.explain(campaign, labelled, surrogate)
for name, table in tables.items():
    files.write_csv(table, getattr(sm.output, name))
files.write_structures(rounds.prototype_environments(campaign, labelled, surrogate.prototypes),
                       sm.output.environments)
logging.info("round %s explained in %.1f s: %d structures, %d ablation rows, %d weightings",
             sm.wildcards.round, time.perf_counter() - start, len(tables["shap"]),
             len(tables["ablation"]), len(tables["weighting"]))
