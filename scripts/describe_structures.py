"""Rule describe_structures: labels and layer descriptors of a round's structures."""

import logging

import pandas as pd

from strata import campaign, descriptors
from strata.reference import read_result

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
elements = sm.params.elements
results = [read_result(path) for path in sm.input.results]
labels = pd.DataFrame([campaign.label_row(result, elements) for result in results])
settings = campaign.descriptor_settings(elements, sm.params.descriptors)
features = descriptors.describe_many(results, settings).reset_index(drop=True)
table = pd.concat([labels, features], axis=1)
logging.info("%d structures, %d features, %d failed", len(table), features.shape[1],
             (labels.status != "ok").sum())
campaign.write_csv(table, sm.output.descriptors)
