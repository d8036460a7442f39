"""Provenance records: versions of strata, ase, gpaw, lightgbm and the config hash."""

import copy
import json
from importlib import metadata

import yaml
from conftest import REPO

from strata import provenance
from strata.config import config_hash, validate


def shipped_config():
    return validate(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


def test_record_names_versions_and_config_hash():
    config = shipped_config()
    record = provenance.record(config, 3)
    assert record["round"] == 3 and record["seed"] == config["seed"]
    assert record["config_hash"] == config_hash(config)
    for name in ("strata", "ase", "gpaw", "lightgbm"):
        assert record["versions"][name] == metadata.version(name), name


def test_record_is_reproducible_and_tracks_the_config(tmp_path):
    config = shipped_config()
    first = provenance.write_record(tmp_path / "a.json", config, 1)
    provenance.write_record(tmp_path / "b.json", copy.deepcopy(config), 1)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert provenance.read_record(tmp_path / "a.json") == first
    changed = provenance.record(dict(config, seed=config["seed"] + 1), 1)
    assert changed["config_hash"] != first["config_hash"]
    assert not list(tmp_path.glob(".*tmp"))


def test_missing_package_is_none():
    assert provenance.versions(("no-such-package-strata",)) == {"no-such-package-strata": None}


def test_record_accepts_non_json_values(tmp_path):
    config = shipped_config()
    config["cluster"] = dict(config["cluster"], folder=tmp_path)  # a Path, as a script might pass
    json.dumps(provenance.record(config, 0))
