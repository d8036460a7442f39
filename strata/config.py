"""Campaign configuration: defaults, schema validation and physical checks.

:func:`validate` is what the Snakefile calls before any job runs: it fills every default from
``workflow/schemas/config.schema.yaml``, validates the types and ranges, then checks what a
schema cannot (compositions that add up to the particle size, elements the calculator knows,
readable user structures, a plausible lattice constant, bonds and a surface, enough distinct
orderings: :mod:`strata.particlechecks`). Every error names the key and what is wrong, in one
line (:mod:`strata.schemaerrors`); config files are read strictly (:mod:`strata.configfiles`).
"""

import hashlib
import json

import numpy as np
from ase.data import atomic_numbers, chemical_symbols
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from strata import clusters, orderings, particlechecks, schemaerrors
from strata.calculators import EMT_ELEMENTS, check_gpaw
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

    # "integer" excludes integer-valued floats (JSON Schema counts 2.0 as one; the code not)
    type_checker = validator_class.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool))
    return validators.extend(validator_class, {"properties": set_defaults},
                             type_checker=type_checker)


DefaultFillingValidator = _with_defaults(Draft202012Validator)


def validate_schema(config):
    """Fill defaults into ``config`` (in place) and check it against the schema.

    Raises
    ------
    ConfigError
        For the first problem, as ``config key 'a.b': message``.
    """
    _check_moved_keys(config)
    error = best_match(DefaultFillingValidator(schema()).iter_errors(config))
    if error is not None and is_scan(config.get("composition")) and \
            list(error.absolute_path)[:1] == ["composition"]:
        # a scan: its own schema's error, not the closest of the other composition forms
        scan = {"$defs": schema()["$defs"], "$ref": "#/$defs/scan"}
        error = best_match(DefaultFillingValidator(scan).iter_errors(config["composition"]))
        _raise(error, ("composition",))
    if error is not None:
        _raise(error)


def _raise(error, prefix=()):
    """ConfigError for a schema error, naming the key (:mod:`strata.schemaerrors`)."""
    raise ConfigError(schemaerrors.message(error, prefix))


def _check_finite(config):
    """Reject NaN and infinities anywhere (YAML ``.nan``/``.inf`` pass every schema range)."""
    problem = schemaerrors.non_finite(config)
    if problem:
        raise ConfigError(problem)


def _check_moved_keys(config):
    """Reject keys of an earlier version, naming the key that replaced them."""
    problem = schemaerrors.moved_key(config)
    if problem:
        raise ConfigError(problem)


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
    """The ``composition`` key as a list of element → amount dicts (a scan: its element and
    first count only, see :func:`scanned_counts`)."""
    value = config["composition"]
    if is_scan(value):
        return [{element: first} for element, (first, _) in value["scan"].items()]
    return value if isinstance(value, list) else [value]


def is_scan(composition):
    """Whether a ``composition`` value is a scan (``{scan: {El: [first, last]}, step: s}``)."""
    return isinstance(composition, dict) and "scan" in composition


def scanned_counts(scan, elements, n_atoms):
    """The compositions of a scan as counts aligned with ``elements`` (two elements).

    Raises
    ------
    ConfigError
        For more than two elements, or a range that leaves 1 … ``n_atoms`` − 1.
    """
    (element, (first, last)), = scan["scan"].items()
    if len(elements) != 2:
        raise ConfigError(
            f"config key 'composition.scan': a scan varies one element of a binary, but "
            f"'elements' has {len(elements)}; list the compositions instead")
    if not 1 <= first <= last <= n_atoms - 1:
        raise ConfigError(
            f"config key 'composition.scan': {element} counts [{first}, {last}] must rise "
            f"within 1 … {n_atoms - 1} (the particle has {n_atoms} atoms; the pure particles "
            f"are the hull's references, not compositions to rank)")
    column = list(elements).index(element)
    counts = []
    for count in range(first, last + 1, scan["step"]):
        row = np.full(2, n_atoms - count)
        row[column] = count
        counts.append(row)
    return counts


def counts_from_amounts(amounts, elements, n_atoms, key="composition"):
    """Count per element (aligned with ``elements``) from counts or fractions.

    Integers are counts and must add up to ``n_atoms``; otherwise the values are fractions,
    must add up to 1 and are rounded to counts by the largest remainder. Every element of
    ``amounts`` is one of ``elements`` (checked by :func:`check_campaign`).
    """
    values = np.array([amounts.get(e, 0) for e in elements], dtype=float)
    if values.sum() > 1 + 1e-6 and not all(float(v).is_integer() for v in amounts.values()):
        raise ConfigError(
            f"config key '{key}': {amounts} mixes counts and fractions; give whole counts "
            f"adding up to {n_atoms} atoms, or fractions adding up to 1"
        )
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
            raise ConfigError(f"config key 'elements': unknown element {symbol!r}"
                              f"{schemaerrors.case_hint([symbol])}")
    uncovered = sorted(set(config["elements"]) - set(EMT_ELEMENTS))
    for key, value, other in (("calculator", config["reference"]["calculator"], "gpaw"),
                              ("prerelax.calculator", config["reference"]["prerelax"]["calculator"],
                               "none")):
        if value == "emt" and uncovered:
            raise ConfigError(
                f"config key 'reference.{key}': emt has no parameters for {uncovered}; "
                f"it knows {', '.join(EMT_ELEMENTS)} (use {other})")
    unknown = sorted(set(config["reference"]["gpaw"]["magmoms"]) - set(atomic_numbers))
    if unknown:
        raise ConfigError(f"config key 'reference.gpaw.magmoms': unknown element(s) {unknown}")
    if config["reference"]["calculator"] == "gpaw":  # setups, basis, xc as installed
        check_gpaw(config["reference"]["gpaw"], config["elements"], error=ConfigError)


def _keyed_compositions(config):
    """``(key, amounts)`` of every composition (``composition`` or ``composition.i``)."""
    listed = isinstance(config["composition"], list)
    return [(f"composition.{i}" if listed else "composition", amounts)
            for i, amounts in enumerate(composition_list(config))]


def _check_composition_elements(config):
    """Compositions name only campaign elements, one mapping each (before building)."""
    listed = composition_list(config)
    if len(listed) > 1 and all(len(a) == 1 for a in listed) and \
            len({e for a in listed for e in a}) == len(listed):  # [Pt: 74, Au: 73]
        one = ", ".join(f"{e}: {v}" for a in listed for e, v in a.items())
        raise ConfigError(f"config key 'composition': each list entry is one composition, so "
                          f"this lists {len(listed)} one-element ones; write {{{one}}}")
    for key, amounts in _keyed_compositions(config):
        unknown = sorted(set(amounts) - set(config["elements"]))
        if unknown:
            raise ConfigError(f"config key '{key}': elements {unknown} are not in 'elements' "
                              f"{config['elements']}"
                              f"{schemaerrors.case_hint(unknown, config['elements'])}")


def _mean_fractions(config):
    """Element → mean fraction over the listed compositions; a scan: equal fractions of its
    elements (the middle of the scan), so one template serves every composition."""
    if is_scan(config["composition"]):
        return {element: 1.0 for element in config["elements"]}
    fractions = {}
    for amounts in composition_list(config):
        total = sum(amounts.values())
        for element, amount in amounts.items():
            fractions[element] = fractions.get(element, 0.0) + amount / total
    return fractions


def _lattice_constant(config):
    """The given lattice constant (checked against Vegard's law) or Vegard's estimate."""
    given = config["cluster"]["lattice_constant"]
    try:
        vegard = clusters.default_lattice_constant(_mean_fractions(config))
    except ValueError as error:  # an element without a crystal reference state in ASE
        if given:
            return given
        raise ConfigError(f"config key 'cluster.lattice_constant': null needs Vegard's law, "
                          f"but {error}; give the lattice constant in Å") from error
    problem = particlechecks.lattice_problem(given, vegard) if given else None
    if problem:
        raise ConfigError(f"config key 'cluster.lattice_constant': {problem}")
    return given or vegard


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
    lattice_constant = _lattice_constant(config)
    shape = cluster["shape"]
    if shape == "truncated_octahedron" and not 2 * cluster["cutoff"] <= cluster["size"] - 1:
        raise ConfigError(
            f"config key 'cluster.cutoff': {cluster['cutoff']} layers cannot be cut from a "
            f"truncated octahedron of size {cluster['size']} (needs 2 * cutoff <= size - 1)"
        )
    too_large = particlechecks.size_problem(shape, cluster["size"], cluster["cutoff"])
    if too_large:
        raise ConfigError(f"config key 'cluster.size': {too_large}")
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
    if is_scan(config["composition"]):
        return scanned_counts(config["composition"], config["elements"], n_atoms)
    result = []
    for key, amounts in _keyed_compositions(config):
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


def _check_initial_size(config, templates_, counts):
    """Enough distinct orderings of every composition for the initial set (symmetry-reduced
    under each template's point group when search.symmetry is on)."""
    search = config["search"]
    for composition in counts:
        n_orderings = particlechecks.distinct_orderings(
            templates_, composition, search["symmetry"], search["symmetry_tolerance"])
        if n_orderings < config["initial_size"]:
            key = orderings.composition_key(composition, config["elements"])
            distinct = " symmetry-distinct" if search["symmetry"] else ""
            raise ConfigError(
                f"config key 'initial_size': {config['initial_size']} distinct orderings of "
                f"{key} are asked for, but only {n_orderings}{distinct} exist on "
                f"{len(templates_)} template(s); lower initial_size to at most {n_orderings}"
            )


def _check_bonds(config, templates_):
    """Bonds and a surface on every template (``descriptors.bond_factor`` and co.)."""
    from strata.settings import DescriptorSettings

    settings = DescriptorSettings.from_config(config["elements"], config["descriptors"])
    if config["cluster"]["shape"] != "files":  # structure files: checked by strata.clusters
        problem = particlechecks.bond_problem(templates_, settings.bond_factor)
        if problem:
            raise ConfigError(f"config key 'descriptors.bond_factor': {problem}")
    problem = particlechecks.surface_problem(templates_, settings)
    if problem:
        raise ConfigError(f"config key '{problem[0]}': {problem[1]}")


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
    _check_composition_elements(config)
    templates_ = templates(config)
    counts = compositions(config, len(templates_[0]))
    if config["cluster"]["shape"] == "files":
        _check_user_orderings(config, templates_, counts)
    _check_bonds(config, templates_)
    _check_initial_size(config, templates_, counts)
    _check_prior_blocks(config)
    if config["hull"]["enabled"] and len(templates_) > 1:
        raise ConfigError(
            f"config key 'hull.enabled': the hull compares particles of one shape, but "
            f"cluster.folder gives {len(templates_)} structures; give one, or switch the hull "
            f"off")
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
    """Read a YAML config file strictly (:mod:`strata.configfiles`) and :func:`validate` it."""
    from strata.configfiles import read_configfile

    return validate(read_configfile(path))


def config_hash(config):
    """SHA-256 (first 16 hex digits) of the complete config, for provenance."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
