"""The campaign context: what every round of one campaign shares, built once.

A :class:`Campaign` holds the typed settings (:class:`strata.settings.CampaignSettings`), the
templates (ideal cluster or user structures), the compositions as counts, the featurizer (one
topology per template) and the symmetry of each template. The job functions of
:mod:`strata.rounds` take it as their first argument; the rule scripts build it from the
validated config, the benchmarks and tests from a config dict in the same way.
"""

import json
from dataclasses import dataclass

import numpy as np

from strata import orderings
from strata.featurizer import Featurizer
from strata.settings import CampaignSettings
from strata.symmetry import SymmetryCache


@dataclass(frozen=True, eq=False)
class Campaign:
    """Settings, templates, compositions, featurizer and symmetry of one campaign."""

    settings: CampaignSettings
    templates: tuple
    compositions: tuple
    featurizer: Featurizer
    symmetry: SymmetryCache
    user_orderings: tuple = ()  # (template, codes) of user structure files

    @classmethod
    def from_config(cls, config):
        """The context of a whole config dict, validated here (defaults filled in place,
        physics checked).

        Raises
        ------
        strata.config.ConfigError
            Naming the key, for any problem of the config.
        """
        from strata.config import ConfigError, check_campaign, validate_schema

        if not isinstance(config, dict):
            raise ConfigError("config: expected a mapping of keys to values")
        validate_schema(config)
        shapes, counts = check_campaign(config)  # the templates, built once
        return cls._of_config(config, shapes, counts)

    @classmethod
    def from_params(cls, params, pairs=None):
        """The context of a rule's params: the particle and the keys the job depends on.

        The Snakefile has validated the whole config before any job started; the keys a job
        does not depend on take the schema's defaults here. ``pairs``: the campaign's pair
        coefficients (rule ``pair_coefficients``, :class:`strata.featurizer.Featurizer`).
        """
        from strata.config import compositions, templates, validate_schema

        config = json.loads(json.dumps(dict(params)))
        validate_schema(config)
        shapes = templates(config)
        return cls._of_config(config, shapes, compositions(config, len(shapes[0])), pairs)

    @classmethod
    def _of_config(cls, config, shapes, counts, pairs=None):
        """The context of a schema-complete config, its templates and compositions."""
        settings = CampaignSettings.from_config(config)
        given = ()
        if config["cluster"]["shape"] == "files":  # their own orderings join round 0
            given = tuple((t, orderings.codes_from_symbols(shape.get_chemical_symbols(),
                                                           settings.elements))
                          for t, shape in enumerate(shapes))
        return cls._build(settings, shapes, counts, given, pairs)

    @classmethod
    def _build(cls, settings, templates, compositions, given=(), pairs=None):
        return cls(
            settings=settings,
            templates=tuple(templates),
            compositions=tuple(np.asarray(c) for c in compositions),
            featurizer=Featurizer(templates, settings.descriptors, pairs),
            symmetry=SymmetryCache(templates, settings.search.symmetry_tolerance,
                                   settings.search.symmetry),
            user_orderings=given,
        )

    @property
    def elements(self):
        """The campaign's element list (fixes the feature space)."""
        return self.settings.elements

    def composition_counts(self):
        """Composition key → counts per element, in config order."""
        return {orderings.composition_key(c, self.elements): c for c in self.compositions}

    def keys(self, templates, codes):
        """Canonical (symmetry-reduced) keys of orderings ``codes`` on ``templates``."""
        return self.symmetry.keys(templates, codes)
