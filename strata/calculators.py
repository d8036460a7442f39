"""Calculators of reference energies: EMT (ASE's) and GPAW, built from a config's settings.

:func:`calculator_settings` picks the settings that decide a reference result (they enter the
calculation key of :mod:`strata.store`); :func:`make_calculator` builds a fresh calculator from
them. EMT is ASE's own implementation (``ase.calculators.emt``); GPAW is imported only when a
GPAW calculator is asked for. :func:`check_gpaw` checks GPAW settings against the installed
GPAW and its data files before any job runs (file look-ups, no calculation).
"""

import re
import warnings
from glob import glob
from pathlib import Path

#: elements ASE's EMT has parameters for
EMT_ELEMENTS = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O")
#: GPAW's model potentials: no total energy to rank orderings by
MODEL_POTENTIALS = ("GLLB", "TB09", "LB94")
#: GPAW's own functional names, for a suggestion when the case is wrong
GPAW_FUNCTIONALS = ("LDA", "PW91", "PBE", "revPBE", "RPBE", "PBEsol", "BLYP", "TPSS", "revTPSS",
                    "M06-L", "SCAN", "vdW-DF", "vdW-DF2", "optPBE-vdW", "BEEF-vdW", "EXX",
                    "PBE0", "HSE03", "HSE06", "B3LYP")
XC_KEY = "config key 'reference.gpaw.xc'"
BASIS_KEY = "config key 'reference.gpaw.basis'"


def calculator_settings(reference_section):
    """The settings that decide a reference result (and nothing else).

    Parameters
    ----------
    reference_section : dict
        The ``reference`` section of a validated campaign config.

    Returns
    -------
    dict
        ``calculator``, its own section (``gpaw`` only for GPAW), ``relax`` and
        ``prerelax``. Compute resources are left out: they change how fast, not what.
    """
    settings = {"calculator": reference_section["calculator"],
                "relax": reference_section["relax"],
                "prerelax": reference_section["prerelax"]}
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


def check_gpaw(gpaw_section, elements, error=ValueError):
    """Check GPAW settings against the installed GPAW and its data files (no calculation).

    Parameters
    ----------
    gpaw_section : dict
        The ``reference.gpaw`` section of a config, defaults filled.
    elements : list[str]
        The campaign's elements.
    error : type
        The exception to raise, a ``ValueError`` subclass (``strata.config.ConfigError``).

    Raises
    ------
    ValueError
        One line naming the key: an ``xc`` GPAW does not know, a model potential, a hybrid
        outside plane-wave mode, a meta-GGA in LCAO mode, a missing PAW setup of an element for
        ``xc``, or for ``mode: lcao`` a malformed or missing basis set. Nothing is checked when
        GPAW cannot be imported here: its jobs then run in another environment
        (``--sdm conda``, ``envs/gpaw.yaml``), which is not installed yet.
    """
    try:
        import gpaw
    except ImportError:
        return
    paths = [Path(p) for p in gpaw.setup_paths]
    try:
        xc = gpaw_functional(gpaw_section["xc"], gpaw_section["mode"])
        _check_setups(xc.get_setup_name(), gpaw_section["xc"], elements, paths)
        if gpaw_section["mode"] == "lcao":
            _check_basis(gpaw_section["basis"], elements, paths, xc.get_setup_name())
    except ValueError as problem:
        raise error(str(problem)) from None


def gpaw_functional(name, mode):
    """GPAW's functional object of ``name``, if GPAW can run it in ``mode``.

    Raises
    ------
    ValueError
        Naming ``reference.gpaw.xc``.
    """
    from gpaw.hybrids import HybridXC
    from gpaw.xc import XC
    from gpaw.xc.hybrid import HybridXCBase

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libxc's build warning
            xc = XC(name, legacy_gpaw=False)
    except Exception as err:  # GPAW raises NameError, KeyError, ValueError … for a bad name
        close = [f for f in GPAW_FUNCTIONALS if f.lower() == name.strip().lower()]
        hint = f"did you mean {close[0]!r}?" if close else (
            "e.g. LDA, PBE, RPBE, revPBE, vdW-DF, PBE0 with mode pw, or a libxc name")
        why = "" if isinstance(err, NameError) else f" ({type(err).__name__}: {err})"
        raise ValueError(" ".join(f"{XC_KEY}: {name!r} is not a functional GPAW knows{why}; "
                                  f"{hint}".split())) from None
    if name.split(":")[0].startswith(MODEL_POTENTIALS):
        raise ValueError(f"{XC_KEY}: {name} is a model potential (for band gaps), with no "
                         "total energy to rank orderings by; use e.g. PBE, RPBE or revPBE")
    if isinstance(xc, HybridXCBase):
        raise ValueError(f"{XC_KEY}: {name} is a hybrid of GPAW's legacy finite-difference "
                         "code only (no forces); use a plane-wave hybrid (EXX, PBE0, HSE06, "
                         "B3LYP) with reference.gpaw.mode: pw")
    if isinstance(xc, HybridXC) and mode != "pw":
        raise ValueError(f"{XC_KEY}: {name} is a hybrid functional, which GPAW runs only in "
                         f"plane-wave mode, not with reference.gpaw.mode: {mode} (set it to pw)")
    if xc.type == "MGGA" and mode == "lcao":
        raise ValueError(f"{XC_KEY}: {name} is a meta-GGA, which GPAW's LCAO mode does not "
                         "implement; set reference.gpaw.mode: pw or fd")
    return xc


def _found(paths, name):
    """Whether GPAW finds the data file ``name`` (or ``name.gz``), as ``search_for_file``."""
    return any(glob(str(p / name)) or glob(str(p / f"{name}.gz")) for p in paths)


def _installed(paths, symbol, suffix=""):
    """Names of the data files of an element: ``Cu.PBE.gz`` → ``PBE`` (suffix ``.basis``)."""
    names = set()
    files = (Path(f).name.removesuffix(".gz") for p in paths for f in glob(str(p / f"{symbol}.*")))
    for file in files:
        name = file[len(symbol) + 1:]
        if suffix and not name.endswith(suffix):
            continue
        name = name.removesuffix(suffix)
        if name and "." not in name and not name.startswith(MODEL_POTENTIALS):
            names.add(name)
    return sorted(names)


def _where(paths):
    return ", ".join(map(str, paths)) or "no folder (install gpaw-data or set GPAW_SETUP_PATH)"


def _check_setups(setup, xc_name, elements, paths):
    """Every element has a PAW setup ``<symbol>.<setup>`` (the functional's setup name)."""
    missing = [e for e in elements if not _found(paths, f"{e}.{setup}")]
    if not missing:
        return
    uses = "" if setup == xc_name else f" ({xc_name} uses {setup} setups)"
    installed = ", ".join(_installed(paths, missing[0])) or "none"
    raise ValueError(
        f"{XC_KEY}: no {setup} PAW setup for {', '.join(missing)}{uses}: GPAW looks for "
        f"{missing[0]}.{setup}[.gz] in {_where(paths)}; setups there for {missing[0]}: "
        f"{installed} (or generate them, `gpaw dataset -f {setup} -w {missing[0]}`, into a "
        "folder on GPAW_SETUP_PATH)"
    )


_BASIS_NAME = re.compile(r"([sdtq1-9])z(?:([sdtq1-9])?(p))?")


def basis_size(name):
    """``(zeta, polarization)`` counts of a basis name (``dzp`` → (2, 1)), None if not one."""
    match = _BASIS_NAME.fullmatch(name)
    if match is None:
        return None
    count = {"s": 1, "d": 2, "t": 3, "q": 4}
    zeta = count.get(match[1]) or int(match[1])
    polarization = 0
    if match[3]:
        polarization = (count.get(match[2]) or int(match[2])) if match[2] else 1
    return zeta, polarization


def _basis_file_name(basis):
    """The basis set GPAW reads for ``basis``: ``szp(dzp)`` is the szp part of dzp."""
    if "(" not in basis:
        return basis
    reduced, _, full = basis.partition("(")
    if not reduced or not full.endswith(")") or not full[:-1]:
        raise ValueError(f"{BASIS_KEY}: {basis!r} is not a basis name, nor a part of one "
                         "written like szp(dzp)")
    full = full[:-1]
    small, large = basis_size(reduced), basis_size(full)
    if small is None:
        raise ValueError(f"{BASIS_KEY}: {basis!r}: {reduced!r} is not a basis name like sz, "
                         "szp, dz or dzp")
    if large is not None and (small[0] > large[0] or small[1] > large[1]):
        raise ValueError(f"{BASIS_KEY}: {basis!r}: {reduced} is larger than {full}, so GPAW "
                         f"would silently use all of {full}; take a smaller part (e.g. "
                         f"szp({full})) or a {reduced} basis set")
    return full


def _check_basis(basis, elements, paths, setup):
    """Every element has the LCAO basis set file ``<symbol>.<name>.basis``."""
    name = _basis_file_name(basis)
    missing = [e for e in elements if not _found(paths, f"{e}.{name}.basis")]
    if not missing:
        return
    installed = _installed(paths, missing[0], ".basis")
    raise ValueError(
        f"{BASIS_KEY}: no basis set {name} for {', '.join(missing)}: GPAW looks for "
        f"{missing[0]}.{name}.basis[.gz] in {_where(paths)}; basis sets there for "
        f"{missing[0]}: {', '.join(installed) or 'none'}"
        f"{_basis_hint(name, installed, f'{missing[0]}.{setup}')}"
    )


def _basis_hint(name, installed, setup):
    """`` (the sz part of dzp is written sz(dzp))``, or how to generate the basis set."""
    size = basis_size(name)
    for full in installed:
        large = basis_size(full)
        if size and large and size[0] <= large[0] and size[1] <= large[1]:
            return f" (the {name} part of {full} is written {name}({full}))"
    return (f" (or generate it, `gpaw basis -s -t {name} {setup}`, into a folder on "
            "GPAW_SETUP_PATH)")
