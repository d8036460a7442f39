"""Conda environments pin the same versions as pyproject.toml (no conda channel here)."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = sorted((REPO / "envs").glob("*.yaml"))


def pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", requirement).groups()
        pins[name.lower().replace("_", "-")] = version
    return pins


def conda_pins(path):
    environment = yaml.safe_load(path.read_text())
    pins = {}
    for dependency in environment["dependencies"]:
        name, _, version = dependency.partition("=")
        pins[name.lower()] = version
    return environment, pins


def test_there_are_environments():
    assert {p.name for p in ENVS} >= {"strata.yaml", "gpaw.yaml"}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_environment_pins_agree_with_pyproject(path):
    environment, pins = conda_pins(path)
    assert "conda-forge" in environment["channels"]
    assert pins.pop("python") == "3.11"
    expected = pyproject_pins()
    for name, version in pins.items():
        if name == "openmpi":  # the MPI library, not a Python package
            continue
        assert name in expected, f"{path.name}: {name} is not pinned in pyproject.toml"
        assert version == expected[name], f"{path.name}: {name} {version} != {expected[name]}"


def test_every_rule_names_an_environment():
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        n_rules = len(re.findall(r"^(?:rule|checkpoint) \w+:", text, flags=re.M))
        assert text.count("conda:") == n_rules, rules.name
