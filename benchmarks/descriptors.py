"""Descriptor throughput: vectorised orderings vs a per-structure loop, the block sets
(``descriptors.blocks``) scoring a pool side by side, and the seed data.

Run from the repository root: ``python benchmarks/descriptors.py [--orderings 100000]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.cluster import Icosahedron

# the dataset reader of the seed-data benchmark beside this script
from hawthorne2026 import SEED_DATA, read_seed_structures

from strata import files
from strata.descriptors import describe_orderings, feature_names
from strata.featurizer import Featurizer, describe, describe_many
from strata.layers import Topology
from strata.settings import DescriptorSettings

N_ORDERINGS = 100_000
N_LOOP = 300


def random_orderings(n_orderings: int, n_atoms: int, n_second: int, seed: int = 0) -> np.ndarray:
    """Random int8 orderings with ``n_second`` sites of element 1, the rest element 0."""
    codes = np.zeros((n_orderings, n_atoms), dtype=np.int8)
    codes[:, :n_second] = 1
    return np.random.default_rng(seed).permuted(codes, axis=1)


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vectorised(template, codes, settings) -> float:
    """Seconds for topology + all orderings at once (chunked)."""
    start = time.perf_counter()
    topology = Topology.from_atoms(template, settings)
    describe_orderings(topology, codes, settings)
    return time.perf_counter() - start


def per_structure(template, codes, settings) -> float:
    """Seconds for the straightforward loop: one Atoms and one describe() per ordering."""
    symbols = np.array(settings.elements)
    start = time.perf_counter()
    for row in codes:
        atoms = template.copy()
        atoms.symbols[:] = symbols[row]
        describe(atoms, settings)
    return time.perf_counter() - start


BLOCK_SETS = (("layers",), ("layers", "local"), ("layers", "long_range"),
              ("layers", "local", "long_range"), ("layers", "prototypes"),
              ("layers", "local", "prototypes"))
#: prototype environments of the "prototypes" rows (model.prototypes of the presets)
N_PROTOTYPES = 8


def block_sets(template, codes) -> None:
    """Seconds to describe the pool ``codes`` as a round's jobs do, per block set: the
    environment blocks' pair coefficients once per campaign (rule ``pair_coefficients``,
    written to a file), then a job (a new :class:`Featurizer` of the template reading that
    file) scoring every ordering."""
    print(f"\npool of {len(codes)} orderings through the Featurizer, per descriptor block set "
          "(same orderings, one run; pairs: once per campaign; job: template, pair file and "
          "pool, as generate_candidates does):")
    print(f"{'blocks':<30}{'features':>9}{'pairs s':>9}{'job s':>8}{'x layers':>10}")
    base = None
    with tempfile.TemporaryDirectory() as folder:
        for blocks in BLOCK_SETS:
            described = [b for b in blocks if b != "prototypes"]
            settings = DescriptorSettings.from_config(["Pt", "Au"], {"blocks": described})
            path = Path(folder) / f"{'+'.join(blocks)}.npz"
            start = time.perf_counter()
            files.write_arrays(Featurizer([template], settings).pair_coefficients(), path)
            paired = time.perf_counter()
            featurizer = Featurizer([template], settings, files.read_arrays(path))
            prototypes = None
            if "prototypes" in blocks:  # learned as the train stage does, on 50 orderings
                prototypes = featurizer.learn_prototypes(
                    np.zeros(50, int), list(codes[:50]), [str(i) for i in range(50)],
                    N_PROTOTYPES, 0)
            featurizer(0, codes, prototypes)
            done = time.perf_counter()
            base = base or done - paired
            print(f"{'+'.join(blocks):<30}{len(featurizer.names_with(prototypes)):>9}"
                  f"{paired - start:>9.2f}{done - paired:>8.2f}{(done - paired) / base:>10.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orderings", type=int, default=N_ORDERINGS)
    parser.add_argument("--skip", nargs="*", default=[], choices=["loop", "blocks", "seed"])
    args = parser.parse_args(argv)
    template = Icosahedron("Pt", noshells=4, latticeconstant=4.0)
    settings = DescriptorSettings(elements=["Pt", "Au"])
    codes = random_orderings(args.orderings, len(template), n_second=73)
    if "blocks" not in args.skip:
        block_sets(template, codes)
    if "loop" in args.skip:
        return
    n_features = len(feature_names(settings))
    print(f"Pt74Au73 on the 147-atom Mackay icosahedron, {n_features} features, "
          f"chunk {settings.chunk_size}")
    t_vec = vectorised(template, codes, settings)
    t_loop = per_structure(template, codes[:N_LOOP], settings)
    rate_vec, rate_loop = len(codes) / t_vec, N_LOOP / t_loop
    print(f"{'method':<34}{'structures':>11}{'seconds':>10}{'per second':>13}")
    print(f"{'vectorised (shared Topology)':<34}{len(codes):>11}{t_vec:>10.2f}{rate_vec:>13.0f}")
    print(f"{'per-structure loop (describe)':<34}{N_LOOP:>11}{t_loop:>10.2f}{rate_loop:>13.0f}")
    print(f"speed-up: {rate_vec / rate_loop:.0f}x")
    print(f"peak memory after PtAu: {peak_memory_mb():.0f} MB")

    if "seed" in args.skip:
        return
    if not SEED_DATA.exists():
        print(f"seed data not found at {SEED_DATA}: skipped")
        return
    structures = read_seed_structures(SEED_DATA)
    alloy = DescriptorSettings(
        elements=["Al", "Co", "Fe", "Ni", "Cu"], bond_factor=1.35, surface_method="geometric"
    )
    start = time.perf_counter()
    table = describe_many(structures, alloy)
    t_seed = time.perf_counter() - start
    print(f"{'seed relaxed structures (describe_many)':<34}{len(table):>11}{t_seed:>10.2f}"
          f"{len(table) / t_seed:>13.0f}   ({table.shape[1]} features, geometric surface)")
    print(f"peak memory: {peak_memory_mb():.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
