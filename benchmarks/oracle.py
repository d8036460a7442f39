"""The benchmark suite's oracle and particles: asap3's EMT, a fresh calculator per structure.

asap3's EMT computes a 147-atom particle in about 0.3 ms (ASE's in about 20 ms). It does not
notice changed chemical symbols on an Atoms it has seen, so every structure gets a fresh
calculator. Its energies differ from ASE's EMT (the workflow's ``reference.calculator: emt``)
by about 1 meV per particle, so every figure of the suite is measured on this oracle alone:
ground truths (:mod:`ground_truths`), campaigns and baselines (:mod:`suite`).

With ``--relaxed`` (:data:`RELAXED`, the campaign's ``reference.relax``) every energy is the
workflow's own reference job (:func:`strata.reference.compute`: BFGS to ``relax.fmax``) with
asap3's EMT put in as its calculator: the relaxed energy of the ordering, from its ideal
lattice. Relaxed energies are cached per ordering (annealing revisits them); calls are
counted all the same.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from strata import reference
from strata.campaign import Campaign
from strata.orderings import codes_from_symbols

HERE = Path(__file__).resolve().parent
SYSTEMS = HERE / "systems.yaml"
VACUUM = 8.0  # Å of box around the particle (asap3 needs a cell; no periodicity)
RELAXED = ("reference.relax.enabled=true",)  # the campaign keys of a relaxed suite (--relaxed)


def systems(names=None) -> list[dict]:
    """The suite's particles (``benchmarks/systems.yaml``), all or the ``names`` given."""
    entries = yaml.safe_load(SYSTEMS.read_text())
    if names:
        unknown = sorted(set(names) - {e["name"] for e in entries})
        if unknown:
            raise SystemExit(f"unknown systems {unknown}; known: "
                             f"{', '.join(e['name'] for e in entries)}")
        entries = [e for e in entries if e["name"] in names]
    return entries


def campaign_config(system: dict, **keys) -> dict:
    """A campaign config of a suite particle: its elements, composition and cluster, EMT
    references, and ``keys`` (top-level config keys or whole sections)."""
    config = {key: copy.deepcopy(system[key]) for key in ("elements", "composition", "cluster")}
    config["reference"] = {"calculator": "emt"}
    config.update(copy.deepcopy(keys))
    return config


def apply_overrides(config, assignments):
    """Apply ``section.key=json`` (or top-level ``key=json``) assignments to ``config`` (a
    value that is not JSON is a string); returns ``config``."""
    for assignment in assignments:
        path, _, value = assignment.partition("=")
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass  # a bare string
        *sections, key = path.split(".")
        target = config
        for section in sections:
            target = target.setdefault(section, {})
        target[key] = value
    return config


def template_of(system: dict, overrides=()):
    """The particle's template, its element list, its composition counts and its oracle
    (relaxed when ``overrides`` relax, e.g. :data:`RELAXED`)."""
    campaign = Campaign.from_config(apply_overrides(campaign_config(system), overrides))
    return (campaign.templates[0], list(campaign.elements), campaign.compositions[0],
            oracle_of(campaign))


def oracle_of(campaign):
    """The oracle of a campaign's first template, relaxed when the campaign relaxes."""
    return Oracle(campaign.templates[0], campaign.elements,
                  campaign.settings.reference_dict())


def asap3_emt(settings, txt=None, safer=False):
    """asap3's EMT as the reference job's calculator (``reference.compute(calculator=)``)."""
    from asap3 import EMT

    return EMT()


class Oracle:
    """asap3 EMT energies of orderings of one template; counts the calls it is asked for.

    Parameters
    ----------
    template : ase.Atoms
    elements : list[str]
    settings : dict or None
        The campaign's reference settings (``CampaignSettings.reference_dict()``); when they
        relax, every energy is a relaxed one.
    """

    def __init__(self, template, elements, settings=None):
        self.positions = template.positions - template.positions.mean(axis=0)
        self.elements = list(elements)
        extent = np.ptp(self.positions, axis=0) + 2 * VACUUM
        self.cell = np.diag(extent)
        self.positions = self.positions + extent / 2
        self.energies = []
        self.settings = settings
        self.relaxed = bool(settings and settings["relax"]["enabled"])
        self._relaxed = {}  # ordering bytes -> the reference job's relaxed result

    def _atoms(self, codes):
        return Atoms(np.array(self.elements)[np.asarray(codes)], positions=self.positions,
                     cell=self.cell, pbc=False)

    def relaxed_result(self, codes):
        """The reference job's result of an ordering (relaxed from its ideal lattice), asap3's
        EMT its calculator; cached."""
        key = np.asarray(codes, dtype=np.int64).tobytes()
        if key not in self._relaxed:
            result = reference.compute(self._atoms(codes), self.settings, calculator=asap3_emt)
            if result.info["status"] != "ok":
                raise RuntimeError(f"oracle relaxation failed: {result.info['reason']}")
            self._relaxed[key] = result
        return self._relaxed[key]

    def energy(self, codes) -> float:
        """Energy of one ordering (not counted: ground truths, diagnosis)."""
        if self.relaxed:
            return float(self.relaxed_result(codes).get_potential_energy())
        from asap3 import EMT

        atoms = self._atoms(codes)
        atoms.calc = EMT()
        return float(atoms.get_potential_energy())

    def __call__(self, codes) -> float:
        """Energy of one ordering, counted as a reference call (the baselines)."""
        energy = self.energy(codes)
        self.energies.append(energy)
        return energy

    def compute(self, atoms):
        """A campaign's reference result of a structure, counted (``rounds.run(compute=)``)."""
        start = time.perf_counter()
        codes = codes_from_symbols(atoms.get_chemical_symbols(), self.elements)
        energy = self(codes)
        if self.relaxed:  # the relaxed geometry and what the relaxation did, as users get them
            relaxed = self.relaxed_result(codes)
            result = atoms.copy()
            result.positions = relaxed.positions - relaxed.positions.mean(axis=0) \
                + atoms.positions.mean(axis=0)
            result.calc = SinglePointCalculator(result, energy=energy,
                                                forces=relaxed.get_forces())
            result.info.update({k: v for k, v in relaxed.info.items() if k not in atoms.info},
                               calculator="asap3-emt")
            return result
        result = atoms.copy()
        result.calc = SinglePointCalculator(result, energy=energy)
        result.info.update(status="ok", reason="", calculator="asap3-emt",
                           wall_time=round(time.perf_counter() - start, 4))
        return result

    @property
    def calls(self) -> int:
        return len(self.energies)
