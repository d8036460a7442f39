"""Strict reading of config files: a key given twice and YAML errors, with file and line.

Snakemake reads config files with a loader that keeps the last of two equal keys and reports
a syntax error without the file or line. The Snakefile re-reads every config file it was given
with :func:`check_configfiles` before validating the config. From a shell,
``python -m strata.configfiles FILE ...`` reports the same for files Snakemake refused.
"""

import json
import sys
from pathlib import Path

import yaml

from strata.config import ConfigError

#: hints for PyYAML problems a new user meets, by a word of the problem
HINTS = {
    "'\\t'": "a tab: YAML indents with spaces only",
    "mapping values are not allowed": "a second ':' on the line, or a key indented too far",
    "expected <block end>": "check the indentation of this line against the lines above it",
    "could not find expected ':'": "a 'key: value' line without its ':', or an unclosed quote",
    "found unexpected end of stream": "an unclosed quote or bracket",
    "expected ',' or ']'": "an unclosed '[' or a missing ','",
    "expected ',' or '}'": "an unclosed '{' or a missing ','",
}


class ConfigFileError(ConfigError):
    """A config file that cannot be read as intended; the message names file and line."""


def _syntax_error(path, error):
    """One line for a PyYAML error: file, line, column, problem and a hint."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start and mark and start.line != mark.line:
        problem = f"{problem}, {context} begun on line {start.line + 1}"
    hint = next((h for word, h in HINTS.items() if word in problem), None)
    return ConfigFileError(f"config file {path}{where}: {problem}" + (f" ({hint})" if hint else ""))


def _duplicates(node, path=()):
    """(dotted key, first line, second line) of every key given twice in a composed node."""
    if isinstance(node, yaml.MappingNode):
        lines = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key != "<<" and key in lines:
                yield ".".join((*path, key)), lines[key], line
            lines.setdefault(key, line)
            yield from _duplicates(value_node, (*path, str(key)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicates(item, (*path, str(i)))


def _json_duplicates(text):
    """Dotted-free keys given twice in a JSON text (no lines: JSON keeps none)."""
    found = []

    def hook(pairs):
        keys = [k for k, _ in pairs]
        found.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return found


def read_configfile(path):
    """The mapping of a YAML (or JSON) config file, read strictly.

    Raises
    ------
    ConfigFileError
        For a missing or unreadable file, a YAML syntax error (with line and column), a key
        given twice (with both lines), an empty file or one that is not a mapping of keys.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"config file {path}: cannot be read ({error})") from error
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        value = yaml.safe_load(text)
        duplicates = list(_duplicates(node))
    except yaml.YAMLError as error:
        try:  # Snakemake reads JSON first (and JSON may indent with tabs)
            value, duplicates = json.loads(text), [(k, None, None) for k in _json_duplicates(text)]
        except ValueError:
            raise _syntax_error(path, error) from error
    for key, first, second in duplicates:
        lines = f", lines {first} and {second}" if first else ""
        raise ConfigFileError(f"config file {path}{lines}: key '{key}' is given twice "
                              "(Snakemake would silently keep the last value); keep one")
    return _mapping(path, value)


def _mapping(path, value):
    """``value`` if it is a mapping, else the error a new user needs."""
    if value is None:
        raise ConfigFileError(f"config file {path}: is empty (or only comments); give the keys "
                              "to change, e.g. 'rounds: 4', or leave the file out")
    if isinstance(value, str) and ":" in value:
        raise ConfigFileError(f"config file {path}, line 1: {value.split()[0]!r} is not "
                              "'key: value'; put a space after the ':'")
    if not isinstance(value, dict):
        raise ConfigFileError(f"config file {path}: holds a {type(value).__name__}, not a "
                              "mapping of keys to values ('key: value' lines)")
    return value


def check_configfiles(paths):
    """Read every existing config file of ``paths`` strictly (missing ones are Snakemake's).

    Raises
    ------
    ConfigFileError
        For the first file with a problem.
    """
    for path in paths:
        if Path(path).exists():
            read_configfile(path)


def stop_on_config_error(check, *args):
    """Run ``check(*args)`` (for the Snakefile); on a ConfigError print its one line to stderr
    and exit with status 1, so that Snakemake shows no traceback and starts no job."""
    try:
        return check(*args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(1)


def main(argv=None):
    """``python -m strata.configfiles FILE ...``: report each file's first problem."""
    paths = sys.argv[1:] if argv is None else argv
    failed = 0
    for path in paths:
        try:
            read_configfile(path)
        except ConfigFileError as error:
            print(error, file=sys.stderr)
            failed += 1
        else:
            print(f"config file {path}: no problem found")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
