# Strata: an active-learning campaign for the most stable chemical orderings of nanoparticles.
# Usage: see README.md. The rules live in workflow/rules, one file per stage.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# strata is imported from this checkout (the venv installs it in editable mode; conda
# environments deployed with --sdm conda do not, so rule scripts find it the same way).
sys.path.insert(0, workflow.basedir)
os.environ.setdefault("PYTHONPATH", workflow.basedir)
from strata.config import validate
from strata.configfiles import check_configfiles, stop_on_config_error

DEFAULT_CONFIGFILE = "config/config.yaml"

# Re-read every config file strictly (the --configfile ones, then the default): a key given
# twice, a YAML error or an empty file stops here, naming the file and line. Each check stops
# Snakemake with one line on stderr (no traceback) before any job.
stop_on_config_error(check_configfiles, [*workflow.configfiles, DEFAULT_CONFIGFILE])


configfile: DEFAULT_CONFIGFILE


# Fill defaults from workflow/schemas/config.schema.yaml, check types and physics, and stop
# with a message naming the key before any job starts.
stop_on_config_error(validate, config)


include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/describe.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/formula.smk"
include: "workflow/rules/chart.smk"
include: "workflow/rules/hull.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        expand("results/round_{round}/report.html", round=ROUNDS),
        "results/report.html",
        "results/references.db",
        "results/best_structures.extxyz",
        *(["results/hull.csv"] if HULL else []),
