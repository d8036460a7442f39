# Strata: an active-learning campaign for the most stable chemical orderings of nanoparticles.
# Usage: see README.md. The rules live in workflow/rules, one file per stage.
from snakemake.utils import min_version

from strata.config import validate

min_version("9.0")


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
    input:
        expand("results/round_{round}/report.html", round=ROUNDS),
        "results/report.html",
        "results/references.db",
        "results/best_structures.extxyz",
    default_target: True
