"""Rule report_round: the HTML report of one round."""

import logging
import time
from pathlib import Path

import pandas as pd

from strata import campaign, ranking, report
from strata.descriptors import DescriptorSettings

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
round_ = int(sm.wildcards.round)
particle, section = sm.params.particle, sm.params.report
elements = list(particle["elements"])
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
labelled = campaign.read_labelled(sm.input.labelled)
surrogate = ranking.load_surrogate(sm.input.model)
settings = DescriptorSettings.from_config(elements, sm.params.descriptors)
best = report.best_results(labelled, sm.input.results, section["best_structures"])
best = best[: section["best_structures"]]
results_dir = Path(sm.output.report).parent.parent
logs = {r: results_dir / f"round_{r:02d}" / "logs" for r in sorted(set(labelled["round"]))}
html = report.round_page(
    round_, metrics, labelled, surrogate=surrogate, best=best, settings=settings,
    elements=elements, shap_samples=section["shap_samples"], model_config=sm.params.model,
    seed=sm.params.seed, k=sm.params.batch_size,
    configured_weights=sm.params.descriptors["region_weights"],
    schemes=section["weighting_schemes"], ablation=section["ablation"],
    times=report.stage_times(labelled, logs),
    round_names=list(sm.params.rounds),
)
Path(sm.output.report).write_text(html)
logging.info("round %02d report written in %.1f s", round_, time.perf_counter() - start)
