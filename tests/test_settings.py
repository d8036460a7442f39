"""Typed settings: one class per config section, every default from the schema."""

import dataclasses
import json

import pytest
import yaml
from conftest import REPO

from strata import config
from strata.config import ConfigError
from strata.settings import (
    CampaignSettings,
    ModelSettings,
    ReportSettings,
    SearchSettings,
    SelectionSettings,
    section_with_defaults,
)

SECTIONS = [ModelSettings, SearchSettings, SelectionSettings, ReportSettings]


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.SECTION)
def test_every_key_of_the_section_is_a_field_and_back(cls):
    keys = set(config.schema()["properties"][cls.SECTION]["properties"])
    assert {f.name for f in dataclasses.fields(cls)} == keys


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.SECTION)
def test_defaults_come_from_the_schema(cls):
    settings = cls.from_config({})
    complete = config.validate({})[cls.SECTION]
    assert settings.to_dict() == complete


def test_settings_are_frozen_and_replace_is_checked():
    settings = ModelSettings.from_config({"n_estimators": 50})
    assert settings.n_estimators == 50 and settings.learning_rate == 0.05
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.n_estimators = 10
    with pytest.raises(TypeError):
        settings.region_weights["core"] = 2.0
    changed = settings.replace(region_weights={"core": 0.5})
    assert changed.region_weight("core") == 0.5 and changed.region_weight("surface") == 1.0
    assert settings.region_weight("core") == 1.0
    with pytest.raises(ConfigError, match="model.levels"):
        settings.replace(levels=40)


def test_unknown_or_moved_key_in_a_section_names_it():
    with pytest.raises(ConfigError, match="config key 'search.pasess': unknown key"):
        section_with_defaults("search", {"pasess": 3})
    with pytest.raises(ConfigError, match="moved to 'search.polish'"):
        section_with_defaults("selection", {"search_polish": 3})


def test_campaign_settings_of_the_default_campaign():
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    settings = CampaignSettings.from_config(config.validate(raw))
    assert settings.elements == ("Ag", "Au")
    assert settings.model.prior_features == raw["model"]["prior_features"]
    assert settings.search.passes == raw["search"]["passes"]
    assert settings.reference_dict() == {"calculator": "emt",
                                         "relax": raw["reference"]["relax"],
                                         "prerelax": raw["reference"]["prerelax"]}
    json.dumps(settings.reference_dict())  # what the calculation store is keyed by
