"""Campaign configuration: defaults, schema validation and physical checks.

:func:`validate` is what the Snakefile calls before any job runs: it fills every default from
``workflow/schemas/config.schema.yaml``, validates the types and ranges, then checks what a
schema cannot (compositions that add up to the particle size, elements the calculator knows,
readable user structures). Every error names the key and what is wrong.
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import yaml
from ase.data import atomic_numbers, chemical_symbols
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from strata import clusters, orderings
from strata.calculators import EMT_ELEMENTS
from strata.settings import schema


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key."""


def _with_defaults(validator_class):
    """A validator that fills ``default`` values into objects as it validates them."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = json.loads(json.dumps(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


DefaultFillingValidator = _with_defaults(Draft202012Validator)


def _key(path):
    return ".".join(str(p) for p in path) or "(top level)"


def validate_schema(config):
    """Fill defaults into ``config`` (in place) and check it against the schema.

    Raises
    ------
    ConfigError
        For the first problem, as ``config key 'a.b': message``.
    """
    _check_moved_keys(config)
    error = best_match(DefaultFillingValidator(schema()).iter_errors(config))
    if error is not None:
        _raise(error)


def _raise(error, prefix=()):
    """ConfigError for a schema error, naming the key."""
    path = [*prefix, *error.absolute_path]
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        raise ConfigError(
            f"config key '{_key([*path, unknown[0]])}': unknown key{_elsewhere(unknown[0])} "
            f"(known here: {', '.join(allowed)})"
        )
    if error.validator == "not":
        raise ConfigError(f"config key '{_key(path)}': {error.instance!r} is not allowed "
                          f"({error.schema.get('description', 'see the schema')})")
    raise ConfigError(f"config key '{_key(path)}': {error.message}")


def _elsewhere(key):
    """`` — it is 'search.passes'`` when a section of the schema has ``key``, else ''."""
    homes = [f"{name}.{key}" for name, section in schema()["properties"].items()
             if key in section.get("properties", {})]
    return f"; did you mean {' or '.join(repr(h) for h in homes)}?" if homes else ""


def _check_finite(value, path=()):
    """Reject NaN and infinities anywhere (YAML ``.nan``/``.inf`` pass every schema range)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{_key(path)}': {value} is not a finite number")
    if isinstance(value, dict):
        for name, item in value.items():
            _check_finite(item, (*path, name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, (*path, i))


#: keys that moved, old path -> new path (None: removed), with what to tell the user
MOVED_KEYS = {
    **{("selection", old): f"search.{new}" for old, new in (
        ("search_passes", "passes"), ("search_population", "population"),
        ("search_children", "children"), ("search_neighbourhood", "neighbourhood"),
        ("search_polish", "polish"), ("compound_swaps", "compound_swaps"),
        ("search_parents", "parents"), ("max_swaps", "max_swaps"),
        ("fresh_share", "fresh_share"), ("structured", "structured"),
        ("symmetry", "symmetry"), ("symmetry_tolerance", "symmetry_tolerance"))},
    ("descriptors", "region_weights"): "model.region_weights",
    ("reference", "fault"): None,
}
MOVED_WHY = {
    "model.region_weights": "region weights now weigh the blocks in the linear prior (tree "
                            "models ignore a scaling of their features)",
    None: "fault injection is for the test suite only (STRATA_INJECT_FAULT, CONTRIBUTING.md)",
}


def _check_moved_keys(config):
    """Reject keys of an earlier version, naming the key that replaced them."""
    for (section, key), new in MOVED_KEYS.items():
        if isinstance(config.get(section), dict) and key in config[section]:
            where = f"moved to '{new}'" if new else "was removed"
            why = MOVED_WHY.get(new, "the search settings have their own section")
            raise ConfigError(f"config key '{section}.{key}': {where} ({why})")


def validate_section(name, section):
    """Fill defaults into one config section (in place) and check it against the schema.

    Raises
    ------
    ConfigError
        Naming ``name.key`` for the first problem.
    """
    _check_moved_keys({name: section})
    wrapper = {name: section}  # validated as part of a whole config: "$ref"s resolve
    errors = DefaultFillingValidator(schema()).iter_errors(wrapper)
    error = best_match(e for e in errors if list(e.absolute_path)[:1] == [name])
    if error is not None:
        _raise(error)


def composition_list(config):
    """The ``composition`` key as a list of element → amount dicts."""
    value = config["composition"]
    return value if isinstance(value, list) else [value]


def counts_from_amounts(amounts, elements, n_atoms, key="composition"):
    """Count per element (aligned with ``elements``) from counts or fractions.

    Integers are counts and must add up to ``n_atoms``; otherwise the values are fractions,
    must add up to 1 and are rounded to counts by the largest remainder.
    """
    unknown = sorted(set(amounts) - set(elements))
    if unknown:
        raise ConfigError(
            f"config key '{key}': elements {unknown} are not in 'elements' {elements}"
        )
    values = np.array([amounts.get(e, 0) for e in elements], dtype=float)
    if all(float(v).is_integer() for v in amounts.values()) and values.sum() > 1:
        if values.sum() != n_atoms:
            raise ConfigError(
                f"config key '{key}': counts add up to {int(values.sum())} atoms, but the "
                f"particle has {n_atoms}"
            )
        return values.astype(int)
    if abs(values.sum() - 1) > 1e-6:
        raise ConfigError(f"config key '{key}': fractions add up to {values.sum():g}, not 1")
    exact = values * n_atoms
    counts = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - counts), kind="stable")
    counts[remainder_order[: n_atoms - counts.sum()]] += 1
    if (counts[values > 0] == 0).any():
        raise ConfigError(f"config key '{key}': a fraction rounds to zero atoms of {n_atoms}")
    return counts


def _check_elements(config):
    for symbol in config["elements"]:
        if symbol not in atomic_numbers or symbol == chemical_symbols[0]:
            raise ConfigError(f"config key 'elements': unknown element {symbol!r}")
    if config["reference"]["calculator"] == "emt":
        unsupported = sorted(set(config["elements"]) - set(EMT_ELEMENTS))
        if unsupported:
            raise ConfigError(
                f"config key 'reference.calculator': emt has no parameters for {unsupported}; "
                f"it knows {', '.join(EMT_ELEMENTS)} (use gpaw)"
            )


def templates(config):
    """The campaign's templates: one ideal cluster, or every user structure file.

    Raises
    ------
    ConfigError
        For a missing or malformed structure folder.
    """
    cluster = config["cluster"]
    if cluster["shape"] == "files":
        if not cluster["folder"]:
            raise ConfigError("config key 'cluster.folder': shape 'files' needs a folder")
        try:
            return clusters.read_templates(cluster["folder"])
        except clusters.StructureFileError as error:
            raise ConfigError(f"config key 'cluster.folder': {error}") from error
    lattice_constant = cluster["lattice_constant"] or clusters.default_lattice_constant(
        composition_list(config)[0]
    )
    shape = cluster["shape"]
    if shape == "truncated_octahedron" and not 2 * cluster["cutoff"] <= cluster["size"] - 1:
        raise ConfigError(
            f"config key 'cluster.cutoff': {cluster['cutoff']} layers cannot be cut from a "
            f"truncated octahedron of size {cluster['size']} (needs 2 * cutoff <= size - 1)"
        )
    try:
        template = clusters.build_template(shape, cluster["size"], lattice_constant,
                                           cluster["cutoff"], cluster["reentrance"])
    except ValueError as error:
        raise ConfigError(f"config key 'cluster': {error}") from error
    if len(template) < 2:
        raise ConfigError(
            f"config key 'cluster.size': a {shape} of size {cluster['size']} has "
            f"{len(template)} atom; a particle needs at least 2"
        )
    return [template]


def compositions(config, n_atoms):
    """Every composition as counts aligned with ``config['elements']`` (distinct)."""
    result = []
    for i, amounts in enumerate(composition_list(config)):
        key = "composition" if not isinstance(config["composition"], list) else f"composition.{i}"
        counts = counts_from_amounts(amounts, config["elements"], n_atoms, key)
        if any((counts == c).all() for c in result):
            raise ConfigError(f"config key '{key}': composition listed twice")
        result.append(counts)
    return result


def _check_user_orderings(config, templates_, counts):
    elements = config["elements"]
    allowed = {orderings.composition_key(c, elements) for c in counts}
    for i, template in enumerate(templates_):
        try:
            codes = orderings.codes_from_symbols(template.get_chemical_symbols(), elements)
        except ValueError as error:
            raise ConfigError(f"config key 'cluster.folder': structure {i}: {error}") from error
        key = orderings.composition_key(orderings.element_counts(codes, len(elements)), elements)
        if key not in allowed:
            raise ConfigError(
                f"config key 'cluster.folder': structure {i} has composition {key}, which is not "
                f"a configured composition ({', '.join(sorted(allowed))})"
            )


def _check_initial_size(config, n_templates, counts):
    """Enough distinct orderings of every composition for the initial set."""
    for composition in counts:
        n_orderings = math.factorial(int(composition.sum()))
        for count in composition:
            n_orderings //= math.factorial(int(count))
        if n_orderings * n_templates < config["initial_size"]:
            key = orderings.composition_key(composition, config["elements"])
            raise ConfigError(
                f"config key 'initial_size': {config['initial_size']} distinct orderings of "
                f"{key} are asked for, but only {n_orderings * n_templates} exist"
            )


def _check_prior_blocks(config):
    """The linear prior keeps at least one descriptor block (``model.region_weights``)."""
    from strata.descriptors import feature_names
    from strata.prior import prior_design
    from strata.settings import DescriptorSettings, ModelSettings

    model = ModelSettings.from_config(config["model"])
    if model.prior != "ridge" or model.prior_weight == 0:
        return
    names = feature_names(DescriptorSettings.from_config(config["elements"],
                                                         config["descriptors"]))
    try:
        prior_design(names, model)
    except ValueError as error:
        raise ConfigError(
            "config key 'model.region_weights': every descriptor block the prior uses has "
            "weight 0 (with these descriptors); give one a weight > 0, or set model.prior: none"
        ) from error


def check_campaign(config):
    """The checks a schema cannot make; returns ``(templates, compositions)``."""
    _check_finite(config)
    _check_elements(config)
    templates_ = templates(config)
    counts = compositions(config, len(templates_[0]))
    if config["cluster"]["shape"] == "files":
        _check_user_orderings(config, templates_, counts)
    _check_initial_size(config, len(templates_), counts)
    _check_prior_blocks(config)
    if config["batch_size"] > config["pool_size"]:
        raise ConfigError(
            f"config key 'batch_size': {config['batch_size']} is larger than 'pool_size' "
            f"{config['pool_size']}"
        )
    return templates_, counts


def validate(config):
    """Fill defaults, validate the schema and check the campaign (in place).

    Returns
    -------
    dict
        The same ``config``, complete.
    """
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    validate_schema(config)
    check_campaign(config)
    return config


def load(path):
    """Read a YAML config file and :func:`validate` it."""
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"config file {path}: {error}") from error
    return validate(config)


def config_hash(config):
    """SHA-256 (first 16 hex digits) of the complete config, for provenance."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
