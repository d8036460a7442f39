"""Rule compute_reference: the reference energy of one structure of a batch."""

import logging
from pathlib import Path

from ase.io import read

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
campaign = Campaign.from_params(sm.params.campaign)
atoms = read(sm.input.batch, index=int(sm.wildcards.index), format="extxyz")
txt = str(Path(sm.log[0]).with_suffix(".calculator.txt"))
work = Path(sm.output.result).parent / f".{sm.wildcards.index}.mpi"
result, computed = rounds.reference(campaign, atoms, sm.params.store, txt, work,
                                   tasks=sm.resources.tasks)
files.write_result(result, sm.output.result)
if computed is not None:  # on MPI ranks, the ranks' log says
    logging.info(":%s: %s", "computed" if computed else "taken from the store",
                 result.info["status"])
