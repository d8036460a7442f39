"""Rule pure_particles: the pure particle of each element, the hull's references."""

import logging

from strata import files, rounds
from strata.campaign import Campaign

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
sm = snakemake  # noqa: F821
particles = rounds.pure_particles(Campaign.from_params(sm.params.campaign))
files.write_structures(particles, sm.output.batch)
logging.info("%d pure particles: %s", len(particles),
             ", ".join(a.info["composition"] for a in particles))
