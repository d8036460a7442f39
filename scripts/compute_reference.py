"""Rule compute_reference: the reference energy of one structure of a batch."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from ase.io import read, write

from strata import mpi, store
from strata.files import write_result

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
atoms = read(sm.input.batch, index=int(sm.wildcards.index), format="extxyz")
settings = dict(sm.params.settings)
txt = str(Path(sm.log[0]).with_suffix(".calculator.txt"))

if sm.resources.tasks > 1:
    work = Path(sm.output.result).parent / f".{sm.wildcards.index}.mpi"
    work.mkdir(parents=True, exist_ok=True)
    write(work / "structure.extxyz", atoms, format="extxyz")
    (work / "settings.json").write_text(json.dumps(settings))
    command = mpi.launcher_command(sm.params.launcher, sm.resources.tasks) + [
        sys.executable, "-m", "strata.reference", str(work / "structure.extxyz"),
        sm.output.result, str(work / "settings.json"), "--store", sm.params.store, "--txt", txt,
    ]
    logging.info("running %s", " ".join(command))
    subprocess.run(command, check=True, env=mpi.mpi_env())
else:
    result, computed = store.compute_cached(atoms, settings, sm.params.store, txt=txt)
    write_result(result, sm.output.result)
    logging.info(":%s: %s", "computed" if computed else "taken from the store",
                 result.info["status"])
