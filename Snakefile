# Strata: an active-learning campaign for the most stable chemical orderings of nanoparticles.
# Usage: see README.md. The rules live in workflow/rules, one file per stage.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# Rule scripts import strata from this checkout, in the venv or in conda environments
# deployed with --sdm conda.
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
)
from strata.config import validate


configfile: "config/config.yaml"


# Fill defaults from workflow/schemas/config.schema.yaml, check types and physics, and stop
# with a message naming the key before any job starts.
validate(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/describe.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        expand("results/round_{round}/report.html", round=ROUNDS),
        "results/report.html",
        "results/references.db",
        "results/best_structures.extxyz",
