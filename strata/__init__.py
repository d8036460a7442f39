"""Strata: active-learning search for the most stable chemical orderings of nanoparticles."""

__version__ = "0.1.0"
