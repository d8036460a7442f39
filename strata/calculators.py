"""Calculators of reference energies: EMT (ASE's) and GPAW, built from a config's settings.

:func:`calculator_settings` picks the settings that decide a reference result (they enter the
calculation key of :mod:`strata.store`); :func:`make_calculator` builds a fresh calculator from
them. EMT is ASE's own implementation (``ase.calculators.emt``); GPAW is imported only when a
GPAW calculator is asked for.
"""

#: elements ASE's EMT has parameters for
EMT_ELEMENTS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O")


def calculator_settings(reference_section):
    """The settings that decide a reference result (and nothing else).

    Parameters
    ----------
    reference_section : dict
        The ``reference`` section of a validated campaign config.

    Returns
    -------
    dict
        ``calculator``, its own section (``gpaw`` only for GPAW) and ``relax``. Compute
        resources are left out: they change how fast, not what.
    """
    settings = {"calculator": reference_section["calculator"],
                "relax": reference_section["relax"]}
    if settings["calculator"] == "gpaw":
        settings["gpaw"] = reference_section["gpaw"]
    return settings


def make_calculator(settings, txt=None, safer=False):
    """A fresh calculator for one structure.

    Parameters
    ----------
    settings : dict
        From :func:`calculator_settings`.
    txt : str or None
        GPAW log file.
    safer : bool
        GPAW only: three times the SCF iterations and a gentle mixer (β = 0.02), for a retry.

    Returns
    -------
    ase.calculators.calculator.Calculator
        ``ase.calculators.emt.EMT`` or a ``gpaw.GPAW``.
    """
    if settings["calculator"] == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from gpaw import GPAW, PW, FermiDirac, Mixer

    gpaw = settings["gpaw"]
    mode = PW(gpaw["ecut"]) if gpaw["mode"] == "pw" else gpaw["mode"]
    parameters = dict(
        mode=mode,
        xc=gpaw["xc"],
        h=gpaw["h"],
        occupations=FermiDirac(gpaw["smearing_width"]),
        convergence={"energy": gpaw["convergence_energy"]},
        maxiter=gpaw["maxiter"] * (3 if safer else 1),
        spinpol=gpaw["spinpol"],
        txt=txt,
    )
    if gpaw["mode"] == "lcao":
        parameters["basis"] = gpaw["basis"]
    if safer:
        parameters["mixer"] = Mixer(beta=0.02, nmaxold=5, weight=100.0)
    return GPAW(**parameters)


def scf_iterations(calc):
    """Number of SCF iterations of the last calculation.

    Parameters
    ----------
    calc : ase.calculators.calculator.Calculator
        A calculator after a calculation.

    Returns
    -------
    int or None
        The GPAW iteration count (new or old GPAW API); None for EMT.
    """
    for path in ("dft.scf_loop.niter", "scf.niter"):
        obj = calc
        try:
            for name in path.split("."):
                obj = getattr(obj, name)
            return int(obj)
        except (AttributeError, TypeError):
            continue
    if hasattr(calc, "get_number_of_iterations"):
        return int(calc.get_number_of_iterations())
    return None
