"""Rule best_so_far: the best structures of each composition up to this round."""

import logging

from strata import evaluation, files

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
previous = [a for path in sm.input.previous for a in files.read_structures(path)]
results = [files.read_result(path) for path in sm.input.results]
best = evaluation.best_so_far(previous, results, sm.params.per_composition)
files.write_structures(best, sm.output.best)
logging.info("round %s: %d best structures from %d earlier and %d new", sm.wildcards.round,
             len(best), len(previous), len(results))
