"""Rule describe_structures: labels and layer descriptors of a round's structures."""

import logging

from strata import campaign
from strata.descriptors import DescriptorSettings
from strata.reference import read_result

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
settings = DescriptorSettings.from_config(sm.params.elements, sm.params.descriptors)
results = [read_result(path) for path in sm.input.results]
table = campaign.labelled_table(results, sm.params.elements, settings)
logging.info("%d structures, %d failed", len(table), (table["status"] != "ok").sum())
campaign.write_csv(table, sm.output.descriptors)
