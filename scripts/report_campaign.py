"""Rule report_campaign: campaign report, metrics of every round, best structures."""

import logging
from pathlib import Path

import pandas as pd

from strata import evaluation, files, report
from strata.settings import DescriptorSettings

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
metrics = pd.concat([pd.read_csv(p) for p in sm.input.metrics], ignore_index=True)
metrics = evaluation.with_regret(metrics, sm.params.ground_truth_energy)
metrics = evaluation.with_chance(metrics, files.read_chances(sm.input.chances))
labelled = files.read_labelled(sm.input.labelled)
best = files.read_structures(sm.input.best)  # the last round's best.extxyz
files.write_csv(metrics, sm.output.metrics)
files.write_structures(evaluation.best_so_far(best, [], 1), sm.output.best)
names = sm.input.keys()  # the formula, chart and hull inputs exist when their stages are on
formulas = ({Path(path).parent.parent.name.removeprefix("round_"): pd.read_csv(path)
             for path in sm.input.formulas} if "formulas" in names else None)
chart_points = pd.read_csv(sm.input.chart_points) if "chart_points" in names else None
hulls = ({Path(path).parent.name.removeprefix("round_"): pd.read_csv(path)
          for path in sm.input.hulls} if "hulls" in names else None)
results_dir = Path(sm.output.report).parent
logs = {r: results_dir / f"round_{r:02d}" / "logs" for r in sorted(set(labelled["round"]))}
Path(sm.output.report).write_text(report.campaign_page(
    metrics, [f"{r:02d}" for r in metrics["round"]], labelled=labelled,
    best=best[: sm.params.best_structures],
    settings=DescriptorSettings.from_config(sm.params.elements, sm.params.descriptors),
    elements=list(sm.params.elements), times=files.stage_times(labelled, logs),
    formulas=formulas, chart_points=chart_points, hulls=hulls, hull_best=best,
))
