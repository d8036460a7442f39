"""Rule report_round: the HTML report of one round."""

import logging
import time
from pathlib import Path

import pandas as pd

from strata import evaluation, files, report
from strata.settings import DescriptorSettings

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
start = time.perf_counter()
round_ = int(sm.wildcards.round)
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
metrics = evaluation.with_regret(metrics, sm.params.ground_truth_energy)
metrics = evaluation.with_chance(metrics, files.read_chances(sm.input.chances))
labelled = files.read_labelled(sm.input.labelled)
explained = {name: pd.read_csv(getattr(sm.input, name))
             for name in ("shap", "regions", "ablation", "weighting", "prototypes",
                                   "prototype_features")}
explained["environments"] = files.read_structures(sm.input.environments)
every_best = files.read_structures(sm.input.best)  # the best of every composition first
best = every_best[: sm.params.best_structures]
names = sm.input.keys()  # the formula, chart and hull inputs exist when their stages are on
formula = ({"formula": pd.read_csv(sm.input.formula),
            "parity": pd.read_csv(sm.input.formula_parity)} if "formula" in names else None)
chart = ({"points": pd.read_csv(sm.input.chart_points),
          "families": pd.read_csv(sm.input.chart_families),
          "quality": pd.read_csv(sm.input.chart_quality),
          "representatives": files.read_structures(sm.input.chart_representatives)}
         if "chart_points" in names else None)
hull = ({"hull": pd.read_csv(sm.input.hull), "points": pd.read_csv(sm.input.hull_points),
         "structures": every_best,
         **({"previous": pd.read_csv(sm.input.previous_hull)}
            if "previous_hull" in names else {})}
        if "hull" in names else None)
results_dir = Path(sm.output.report).parent.parent
logs = {r: results_dir / f"round_{r:02d}" / "logs" for r in sorted(set(labelled["round"]))}
html = report.round_page(
    round_, metrics, labelled, explained, best=best,
    settings=DescriptorSettings.from_config(sm.params.elements, sm.params.descriptors),
    elements=list(sm.params.elements), ablation=sm.params.ablation,
    times=files.stage_times(labelled, logs), round_names=list(sm.params.rounds),
    formula=formula, chart=chart, hull=hull,
)
Path(sm.output.report).write_text(html)
logging.info("round %02d report written in %.1f s", round_, time.perf_counter() - start)
