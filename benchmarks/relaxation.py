"""What relaxation costs and changes, measured: printed, never asserted.

Three tables, each driven through the workflow's own reference job
(:func:`strata.rounds.reference`, the job of rule ``compute_reference``) on a campaign built from
a preset like a user's (``config/config.yaml`` under ``config/gpaw-cuag13-relax.yaml``):

1. **overhead** — one GPAW single point of the preset's first structure, Strata's reference
   job (``python -m strata.reference … --store``, as the rule runs it) against a bare GPAW
   script at the same settings, alternated ``--repeats`` times in one run (wall time of each
   process, start-up included);
2. **ranking** — relaxed against unrelaxed energies of the same orderings (``--orderings`` of
   the initial set of a Cu19Ag19 truncated octahedron, 12 % size mismatch, EMT; and the GPAW
   structures of table 3): Spearman between the two orders, and whether the lowest is the
   same, to show why relaxation matters;
3. **pre-relaxation** — GPAW relaxations of ``--dft`` orderings of the preset's particle, from
   the ideal lattice and after the EMT pre-relaxation tier: DFT BFGS steps, wall time, and
   the relaxed DFT energy difference (the pre-relaxed minimum against the ideal-start one).

Usage: ``python benchmarks/relaxation.py [--repeats 2] [--orderings 30] [--dft 3]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from ase.io import write
from scipy.stats import spearmanr
from snakemake.utils import update_config

from strata import rounds
from strata.campaign import Campaign

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "config" / "gpaw-cuag13-relax.yaml"
BARE = """
import sys
from ase.io import read
from gpaw import GPAW, FermiDirac
atoms = read(sys.argv[1])
atoms.center(vacuum={vacuum})
atoms.pbc = False
atoms.calc = GPAW(mode="lcao", basis="{basis}", xc="{xc}", h={h},
                  occupations=FermiDirac({smearing_width}),
                  convergence={{"energy": {convergence_energy}}}, maxiter={maxiter}, txt=None)
atoms.get_potential_energy()
atoms.get_forces()
"""


def campaign_of(overrides):
    """The campaign of ``config/config.yaml`` under ``overrides``, as ``--configfile`` reads."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(config, copy.deepcopy(overrides))
    return Campaign.from_config(config)


def preset(**reference):
    """The relaxed GPAW preset, with its ``reference`` section updated by ``reference``."""
    config = yaml.safe_load(PRESET.read_text())
    update_config(config, {"reference": reference})
    return config


def initial_structures(campaign, n):
    """The first ``n`` structures of the campaign's initial set (round 0 of the workflow)."""
    return rounds.select(campaign, 0, rounds.generate(campaign, 0))[:n]


def overhead(repeats):
    """Wall time of Strata's reference job and of a bare GPAW script, alternated."""
    campaign = campaign_of(preset(relax={"enabled": False}, prerelax={"calculator": "none"}))
    atoms = initial_structures(campaign, 1)[0]
    settings = campaign.settings.reference_dict()
    times = {"strata": [], "bare": []}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write(folder / "in.extxyz", atoms, format="extxyz")
        (folder / "settings.json").write_text(json.dumps(settings))
        (folder / "bare.py").write_text(BARE.format(**settings["gpaw"]))
        for repeat in range(repeats):
            for name in ("strata", "bare"):
                command = ([sys.executable, "-m", "strata.reference", "in.extxyz",
                            f"out{repeat}.extxyz", "settings.json", "--store",
                            f"store{repeat}"] if name == "strata"
                           else [sys.executable, "bare.py", "in.extxyz"])
                start = time.perf_counter()
                subprocess.run(command, cwd=folder, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    strata, bare = np.median(times["strata"]), np.median(times["bare"])
    print(f"\n1. GPAW single point of {atoms.get_chemical_formula()} ({len(atoms)} atoms, "
          f"LCAO/{settings['gpaw']['basis']}, h = {settings['gpaw']['h']} Å), "
          f"{repeats} alternated runs each")
    print(f"{'':<28}{'median (s)':>12}{'runs (s)':>28}")
    for name, label in (("strata", "Strata reference job"), ("bare", "bare GPAW script")):
        runs = " ".join(f"{t:.1f}" for t in times[name])
        print(f"{label:<28}{np.median(times[name]):>12.1f}{runs:>28}")
    print(f"overhead: {100 * (strata / bare - 1):+.1f} % ({strata - bare:+.1f} s per structure)")


def energies(campaign, structures):
    """Reference energies and results of ``structures`` through the reference job."""
    results = [rounds.reference(campaign, atoms)[0] for atoms in structures]
    return np.array([r.get_potential_energy() for r in results]), results


def ranking_row(label, unrelaxed, relaxed):
    """One line of table 2."""
    rho = spearmanr(unrelaxed, relaxed).statistic
    same = np.argmin(unrelaxed) == np.argmin(relaxed)
    print(f"{label:<44}{len(relaxed):>4}{rho:>10.2f}{'yes' if same else 'no':>12}"
          f"{np.ptp(relaxed - unrelaxed):>14.3f}")


def ranking_emt(n):
    """Spearman between relaxed and unrelaxed EMT energies of a size-mismatched particle."""
    system = {"elements": ["Cu", "Ag"], "composition": {"Cu": 19, "Ag": 19},
              "cluster": {"shape": "truncated_octahedron", "size": 4, "cutoff": 1,
                          "lattice_constant": None},
              "initial_size": n, "reference": {"calculator": "emt"}}
    plain = campaign_of(system)
    structures = initial_structures(plain, n)
    relaxed = campaign_of({**system, "reference": {"calculator": "emt", "relax": {
        "enabled": True, "fmax": 0.01, "steps": 1000}}})
    return energies(plain, structures)[0], energies(relaxed, structures)[0]


def prerelaxation(n):
    """GPAW relaxations from the ideal lattice and after EMT; single points for table 2."""
    structures = initial_structures(campaign_of(preset()), n)
    rows = {}
    for name, tier in (("ideal start", "none"), ("EMT pre-relaxed", "emt")):
        campaign = campaign_of(preset(prerelax={"calculator": tier}))
        start = time.perf_counter()
        values, results = energies(campaign, structures)
        rows[name] = (values, results, time.perf_counter() - start)
    single = campaign_of(preset(relax={"enabled": False}, prerelax={"calculator": "none"}))
    return structures, rows, energies(single, structures)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--orderings", type=int, default=30)
    parser.add_argument("--dft", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "ranking", "dft"])
    args = parser.parse_args(argv)
    if "overhead" not in args.skip:
        overhead(args.repeats)
    dft = None if "dft" in args.skip else prerelaxation(args.dft)
    print("\n2. Relaxed against unrelaxed energy order of the same orderings")
    print(f"{'':<44}{'n':>4}{'Spearman':>10}{'same best':>12}{'spread (eV)':>14}")
    if "ranking" not in args.skip:
        ranking_row("Cu19Ag19 TO38, EMT, relaxed to 0.01 eV/Å", *ranking_emt(args.orderings))
    if dft is not None:
        structures, rows, single = dft
        ranking_row(f"{structures[0].get_chemical_formula()} ico13, GPAW, relaxed",
                    single, rows["ideal start"][0])
        print(f"\n3. GPAW relaxation (fmax 0.05 eV/Å) of {len(structures)} orderings of "
              f"{structures[0].get_chemical_formula()}, from the ideal lattice and after EMT")
        print(f"{'':<18}{'DFT steps':>22}{'EMT steps':>12}{'wall (s)':>10}"
              f"{'E - E(ideal start) (meV)':>26}")
        base = rows["ideal start"][0]
        for name, (values, results, seconds) in rows.items():
            steps = " ".join(str(r.info["relax_steps"]) for r in results)
            emt = " ".join(str(r.info["prerelax_steps"]) for r in results)
            delta = " ".join(f"{1000 * d:+.1f}" for d in values - base)
            print(f"{name:<18}{steps:>22}{emt:>12}{seconds:>10.0f}{delta:>26}")


if __name__ == "__main__":
    main()
