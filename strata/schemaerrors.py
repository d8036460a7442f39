"""One line per schema error: the key, what is wrong, and a hint for the usual slips.

:func:`message` turns a :class:`jsonschema.ValidationError` into the text of a
:class:`strata.config.ConfigError`: ``config key 'a.b': ...``. Hints cover what a tired user
types: ``2.0`` for an integer, ``"5"`` in quotes, ``GPAW`` for ``gpaw``, a value where a section
of keys belongs, a string where a list belongs.
"""

import difflib
import math

from ase.data import chemical_symbols

from strata.settings import schema

#: a composition written as one mapping, for messages
COMPOSITION_EXAMPLE = "{Pt: 74, Au: 73}"


def key_name(path):
    """Dotted key of a path (``cluster.size``), or ``(top level)``."""
    return ".".join(str(p) for p in path) or "(top level)"


def message(error, prefix=()):
    """``config key 'a.b': what is wrong`` for a schema error at ``prefix + error.path``."""
    path = [*prefix, *error.absolute_path]
    key = key_name(path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return (f"config key '{key_name([*path, unknown[0]])}': unknown key"
                f"{elsewhere(unknown[0])} (known here: {', '.join(allowed)})")
    if error.validator == "not":
        return (f"config key '{key}': {error.instance!r} is not allowed "
                f"({error.schema.get('description', 'see the schema')})")
    if path and isinstance(path[-1], str) and ":" in path[-1] and error.instance in ("", None):
        name, _, value = path[-1].partition(":")
        return (f"config key '{key}': {path[-1]!r} is a key without a value; write "
                f"'{name}: {value}' with a space after the ':'")
    if error.validator == "oneOf" and path[:1] == ["composition"]:
        return (f"config key '{key}': {error.instance!r} is not a composition; write element → "
                f"count, e.g. {COMPOSITION_EXAMPLE}, or a list of those")
    whole = _whole_number(error)
    if whole:
        return f"config key '{key}': {whole}"
    hint = _type_hint(error, path) if error.validator == "type" else _enum_hint(error)
    return f"config key '{key}': {error.message}{hint}"


def elsewhere(key):
    """``; did you mean 'search.passes'?`` when a section of the schema has ``key``, else ''."""
    homes = [f"{name}.{key}" for name, section in schema()["properties"].items()
             if key in section.get("properties", {})]
    return f"; did you mean {' or '.join(repr(h) for h in homes)}?" if homes else ""


def _types(error):
    expected = error.validator_value
    return set(expected) if isinstance(expected, list) else {expected}


def _whole_number(error):
    """The message for an integer-valued float where an integer is meant, else None."""
    value = error.instance
    if (error.validator == "type" and "integer" in _types(error) and isinstance(value, float)
            and value.is_integer()):
        return f"{value} is not a whole number; write {int(value)} (no decimal point)"
    return None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _type_hint(error, path):
    """A hint for a value of the wrong type: quoted numbers, sections, lists."""
    value, expected = error.instance, _types(error)
    if isinstance(value, str) and expected & {"integer", "number"} and _is_number(value):
        return (f" (text, not a number: write {value} without quotes; a nested --config value "
                "is always text, use a --configfile)")
    if "object" in expected and not isinstance(value, dict):
        keys = sorted(error.schema.get("properties", {}))
        known = f" ({', '.join(keys)})" if keys else ""
        return f" ('{key_name(path)}' is a section: put its keys{known} indented below it)"
    if "array" in expected and isinstance(value, str):
        return f" (a list: write it in brackets, e.g. [{value}])"
    return ""


def _enum_hint(error):
    """``; did you mean 'gpaw'?`` for a misspelt or mis-cased choice."""
    if error.validator != "enum" or not isinstance(error.instance, str):
        return ""
    choices = {str(c).lower(): c for c in error.validator_value if isinstance(c, str)}
    close = difflib.get_close_matches(error.instance.lower(), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {choices[close[0]]!r}?" if close else ""


def case_hint(symbols, known=None):
    """``; did you mean 'Pt'? (symbols are case-sensitive)`` for mis-cased symbols, else ''."""
    known = chemical_symbols[1:] if known is None else known
    fixed = [s.capitalize() for s in symbols if isinstance(s, str) and s.capitalize() in known]
    if not fixed:
        return ""
    return f"; did you mean {', '.join(repr(s) for s in fixed)}? (symbols are case-sensitive)"


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


def moved_key(config):
    """The message for the first key of an earlier version in ``config``, or None."""
    for (section, key), new in MOVED_KEYS.items():
        if isinstance(config.get(section), dict) and key in config[section]:
            where = f"moved to '{new}'" if new else "was removed"
            why = MOVED_WHY.get(new, "the search settings have their own section")
            return f"config key '{section}.{key}': {where} ({why})"
    return None


def non_finite(value, path=()):
    """``config key 'a.b': nan is not a finite number`` for the first NaN or infinity, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"config key '{key_name(path)}': {value} is not a finite number"
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    return next((problem for name, item in items
                 if (problem := non_finite(item, (*path, name)))), None)
