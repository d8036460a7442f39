"""Shared fixtures: templates, and a copy of the workflow to run campaigns in."""

import copy
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from strata.calculators import calculator_settings
from strata.clusters import build_template
from strata.settings import section_with_defaults

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
WORKFLOW_FILES = ("Snakefile", "workflow", "scripts", "config", "envs", "profiles")
#: the seed paper's DFT data set (../shared beside the checkout); tests skip without it
SEED_DATA = REPO.parent / "shared" / "data" / "hawthorne2026"


#: the calculator settings of a campaign with the schema's EMT defaults
EMT = calculator_settings(section_with_defaults("reference"))
#: GPAW on a 13-atom Cu icosahedron, as small as a real LCAO calculation gets
GPAW = calculator_settings(section_with_defaults("reference", {
    "calculator": "gpaw", "gpaw": {"basis": "szp(dzp)", "h": 0.3, "vacuum": 3.0}}))
#: a 2-round GPAW LCAO campaign of Cu11Ag2 (13 atoms): three real single points
GPAW_CAMPAIGN = {
    "elements": ["Cu", "Ag"], "composition": [{"Cu": 11, "Ag": 2}],
    "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": None},
    "rounds": 2, "initial_size": 2, "batch_size": 1, "pool_size": 20,
    "ground_truth_energy": None,
    "reference": {"calculator": "gpaw", "gpaw": {"h": 0.25}},
}


def as_snakemake_reads_it(overrides):
    """config/config.yaml updated with ``overrides``, as ``--configfile`` does."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, copy.deepcopy(overrides))
    return config


def write_gpaw_campaign(folder, relax=None, prerelax=None, **resources):
    """Write :data:`GPAW_CAMPAIGN` with ``reference.resources`` (and ``relax``,
    ``prerelax`` sections when given) to ``folder/gpaw.yaml``."""
    config = copy.deepcopy(GPAW_CAMPAIGN)
    config["reference"]["resources"] = resources
    for key, section in (("relax", relax), ("prerelax", prerelax)):
        if section:
            config["reference"][key] = section
    path = folder / "gpaw.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def cluster(symbol="Pt", lattice_constant=4.0):
    """A 13-atom icosahedron labelled like a batch structure."""
    atoms = build_template("icosahedron", 2, lattice_constant, symbol=symbol)
    atoms.info.update(structure_id="r00-000", round=0, template=0, composition=f"{symbol}13",
                      origin="random")
    return atoms


def load_benchmark(name):
    """Import ``benchmarks/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seed_structures(n):
    """The first ``n`` relaxed seed structures (ids 1 … n), read by the benchmark's reader."""
    return load_benchmark("hawthorne2026").read_seed_structures(SEED_DATA, range(1, n + 1))


@pytest.fixture(scope="session")
def icosahedron147():
    """The 147-atom Mackay icosahedron of the PtAu147 benchmark."""
    return build_template("icosahedron", 4, 4.0)


def copy_workflow(folder):
    """Copy the workflow (Snakefile, rules, scripts, configs, envs, profiles) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    return folder


@pytest.fixture
def workflow_copy(tmp_path):
    """A copy of the workflow in a temporary folder (strata is imported from the venv)."""
    return copy_workflow(tmp_path)


def run_snakemake(folder, *args, timeout=900):
    """Run the real snakemake CLI in ``folder``; returns the completed process."""
    return subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args], cwd=folder, capture_output=True, text=True,
        timeout=timeout,
    )


@pytest.fixture
def inject_fault(monkeypatch):
    """Make reference calculations fail on purpose, the test-only way (``STRATA_INJECT_FAULT``).

    Call it with comma-separated ``fnmatch`` patterns of structure ids (``"r00-00[0-2],r01-*"``);
    the default ``"*"`` fails every calculation. The variable is removed after the test.
    """

    def inject(patterns="*"):
        monkeypatch.setenv("STRATA_INJECT_FAULT", patterns)

    return inject
