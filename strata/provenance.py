"""Provenance of a round: the versions that produced it and the hash of the complete config.

Written next to each round's model (``results/round_{r}/provenance.json``) so that any number in
a report can be traced to the code and settings that made it. The record holds nothing that
changes between two runs of the same config and seed (no time stamps, no host names), so two
such runs write byte-identical records.
"""

import json
from importlib import metadata
from pathlib import Path

from strata.atomic import replacing
from strata.config import config_hash

PACKAGES = ("strata", "ase", "gpaw", "lightgbm", "numpy", "scikit-learn", "snakemake")


def package_version(name):
    """Installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(packages=PACKAGES):
    """Installed version of each package (``None`` when missing)."""
    return {name: package_version(name) for name in packages}


def record(config, round_):
    """The provenance record of one round.

    Parameters
    ----------
    config : dict
        The complete (validated) campaign config.
    round_ : int

    Returns
    -------
    dict
        ``round``, ``seed``, ``config_hash`` (:func:`strata.config.config_hash`), ``versions``.
    """
    plain = json.loads(json.dumps(config, default=str))
    return {
        "round": int(round_),
        "seed": plain.get("seed"),
        "config_hash": config_hash(plain),
        "versions": versions(),
    }


def write_record(path, config, round_):
    """Write :func:`record` as JSON through a temporary file and a rename; returns it."""
    data = record(config, round_)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def read_record(path):
    """A record written by :func:`write_record`."""
    return json.loads(Path(path).read_text())
