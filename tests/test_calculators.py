"""Calculators: the settings that decide a result, EMT and GPAW built from them, and GPAW
settings checked against the installed GPAW and gpaw-data."""

import copy
import sys

import gpaw
import pytest
import yaml
from ase.calculators.emt import EMT as EMTCalculator
from ase.calculators.emt import parameters as emt_parameters
from conftest import EMT, GPAW, REPO

from strata import calculators
from strata.clusters import build_template
from strata.config import ConfigError, validate

SMALL = {"elements": ["Pt", "Au"], "composition": {"Pt": 7, "Au": 6}, "cluster": {"size": 2},
         "initial_size": 2}


def test_calculator_settings_leave_resources_out():
    section = {"calculator": "emt", "relax": EMT["relax"], "prerelax": EMT["prerelax"],
               "gpaw": GPAW["gpaw"], "resources": {"tasks": 4}}
    assert calculators.calculator_settings(section) == EMT
    gpaw = calculators.calculator_settings(dict(section, calculator="gpaw"))
    assert gpaw["gpaw"] == GPAW["gpaw"] and "resources" not in gpaw


def test_calculator_settings_of_a_validated_config_hold_no_fault():
    """Fault injection is not a setting: a complete config gives only what decides a result."""
    for calculator, keys in (("emt", {"calculator", "relax", "prerelax"}),
                             ("gpaw", {"calculator", "relax", "prerelax", "gpaw"})):
        config = validate(copy.deepcopy({**SMALL, "reference": {"calculator": calculator}}))
        assert set(calculators.calculator_settings(config["reference"])) == keys


def test_emt_elements_are_the_ones_ase_emt_knows():
    assert set(calculators.EMT_ELEMENTS) == set(emt_parameters)


def test_emt_calculator_is_ase_emt_and_has_no_scf():
    atoms = build_template("icosahedron", 2, 4.0, symbol="Pt")
    atoms.calc = calculators.make_calculator(EMT)
    assert isinstance(atoms.calc, EMTCalculator)
    assert atoms.get_potential_energy() > 0  # EMT Pt13: above the bulk reference
    assert calculators.scf_iterations(atoms.calc) is None


def test_scf_iterations_reads_new_and_old_gpaw_apis():
    class Loop:
        niter = 17

    class New:
        class dft:  # GPAW's attribute name
            scf_loop = Loop

    class Old:
        def get_number_of_iterations(self):
            return 9

    assert calculators.scf_iterations(New()) == 17
    assert calculators.scf_iterations(Old()) == 9


def test_safer_gpaw_calculator_has_more_iterations_and_gentle_mixer():
    first = calculators.make_calculator(GPAW).parameters.todict()
    retry = calculators.make_calculator(GPAW, safer=True).parameters.todict()
    assert first["maxiter"] == 333 and retry["maxiter"] == 999
    assert first.get("mixer") is None
    assert retry["mixer"]["beta"] == 0.02


def test_gpaw_calculator_takes_every_setting():
    lcao = calculators.make_calculator(GPAW).parameters.todict()
    assert lcao["mode"]["name"] == "lcao" and lcao["basis"] == {"default": "szp(dzp)"}
    assert lcao["xc"]["name"] == "PBE" and lcao["h"] == 0.3
    assert lcao["occupations"] == {"name": "fermi-dirac", "width": 0.1, "fixmagmom": False}
    assert lcao["convergence"] == {"energy": 0.0005} and lcao["spinpol"] is False
    pw = calculators.make_calculator({**GPAW, "gpaw": {**GPAW["gpaw"], "mode": "pw"}})
    pw = pw.parameters.todict()
    assert pw["mode"] == {"ecut": 400.0, "name": "pw"} and "basis" not in pw


# ------------------------------------------------------- GPAW settings against what is installed

LCAO = {"mode": "lcao", "basis": "dzp", "xc": "PBE"}


def merged(base, overlay):
    """``overlay`` laid over ``base`` key by key, as Snakemake lays ``--configfile`` files."""
    result = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            value = merged(result[key], value)
        result[key] = value
    return result


def test_gpaw_campaign_configs_validate():
    """The shipped Cu/Ag LCAO campaign and the tests' Cu13 szp(dzp) settings are installed."""
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cuag = merged(default, yaml.safe_load((REPO / "config" / "gpaw-cuag38.yaml").read_text()))
    assert validate(cuag)["reference"]["gpaw"]["basis"] == "dzp"
    calculators.check_gpaw(GPAW["gpaw"], ["Cu"])
    assert GPAW["gpaw"]["basis"] == "szp(dzp)" and GPAW["gpaw"]["mode"] == "lcao"


@pytest.mark.parametrize("change", [
    {}, {"basis": "szp(dzp)"}, {"basis": "sz(dzp)"}, {"basis": "dzp(dzp)"}, {"xc": "LDA"},
    {"xc": "RPBE"}, {"xc": "revPBE"}, {"xc": "vdW-DF"}, {"xc": "TPSS", "mode": "fd"},
    {"xc": "PBE0", "mode": "pw"}, {"xc": "HSE06", "mode": "pw"}, {"xc": "B3LYP", "mode": "pw"},
    {"basis": "tzp", "mode": "pw"},  # the basis set is for LCAO only
], ids=str)
def test_check_gpaw_accepts_what_gpaw_runs(change):
    calculators.check_gpaw({**LCAO, **change}, ["Cu", "Ag", "Pt", "Au"])


# (change, elements, key, words): real look-ups in the installed gpaw-data
GPAW_REJECTED = [
    ({"xc": "PBEsol"}, ["Pt", "Au"], "xc", "no PBEsol PAW setup for Pt, Au: GPAW looks for "
                                           "Pt.PBEsol[.gz] in "),
    ({"xc": "RPBE"}, ["Pt", "La", "Au", "Ce"], "xc", "no RPBE PAW setup for La, Ce:"),
    ({"xc": "GGA_X_PBE+GGA_C_PBE"}, ["Cu"], "xc", "no GGA_X_PBE+GGA_C_PBE PAW setup for Cu"),
    ({"xc": "pbe"}, ["Cu"], "xc", "'pbe' is not a functional GPAW knows; did you mean 'PBE'?"),
    ({"xc": "PBEx"}, ["Cu"], "xc", "'PBEx' is not a functional GPAW knows; e.g. LDA, PBE"),
    ({"xc": "B3LYP"}, ["Cu"], "xc", "B3LYP is a hybrid functional, which GPAW runs only in "
                                    "plane-wave mode, not with reference.gpaw.mode: lcao"),
    ({"xc": "PBE0", "mode": "fd"}, ["Cu"], "xc", "not with reference.gpaw.mode: fd"),
    ({"xc": "HSE06"}, ["Cu"], "xc", "HSE06 is a hybrid functional"),
    ({"xc": "LCY-PBE", "mode": "pw"}, ["Cu"], "xc", "hybrid of GPAW's legacy finite-difference"),
    ({"xc": "TPSS"}, ["Cu"], "xc", "TPSS is a meta-GGA, which GPAW's LCAO mode does not"),
    ({"xc": "GLLBSC"}, ["Cu"], "xc", "GLLBSC is a model potential"),
    ({"basis": "tzp"}, ["Pt", "Au"], "basis", "no basis set tzp for Pt, Au: GPAW looks for "
                                              "Pt.tzp.basis[.gz] in "),
    ({"basis": "sz"}, ["Cu"], "basis", "(the sz part of dzp is written sz(dzp))"),
    ({"basis": "tzp(dzp)"}, ["Cu"], "basis", "tzp is larger than dzp, so GPAW would silently"),
    ({"basis": "xx(dzp)"}, ["Cu"], "basis", "'xx' is not a basis name like sz, szp, dz or dzp"),
    ({"basis": "szp(dzp"}, ["Cu"], "basis", "'szp(dzp' is not a basis name, nor a part of one"),
]


@pytest.mark.parametrize("change, elements, key, words", GPAW_REJECTED,
                         ids=[str(c[0]) for c in GPAW_REJECTED])
def test_check_gpaw_rejects_what_gpaw_cannot_run(change, elements, key, words):
    with pytest.raises(ValueError) as raised:
        calculators.check_gpaw({**LCAO, **change}, elements)
    message = str(raised.value)
    assert message.startswith(f"config key 'reference.gpaw.{key}': "), message
    assert words in message and "\n" not in message, message


def test_missing_setups_name_what_is_installed():
    with pytest.raises(ValueError) as raised:
        calculators.check_gpaw({**LCAO, "xc": "RPBE"}, ["La"])
    assert "setups there for La: LDA, PBE (or generate them" in str(raised.value)
    with pytest.raises(ValueError) as raised:
        calculators.check_gpaw({**LCAO, "basis": "qzp"}, ["Cu"])
    assert "basis sets there for Cu: dzp (or generate it, `gpaw basis -s -t qzp Cu.PBE`" in str(
        raised.value)


def test_look_ups_follow_gpaw_setup_paths(tmp_path, monkeypatch):
    """Setups and basis sets are found where GPAW looks (GPAW_SETUP_PATH comes first)."""
    for name in ("Cu.PBEsol.gz", "Cu.tzp.basis"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(gpaw, "setup_paths", [tmp_path, *gpaw.setup_paths])
    calculators.check_gpaw({**LCAO, "xc": "PBEsol", "basis": "szp(dzp)"}, ["Cu"])
    calculators.check_gpaw({**LCAO, "basis": "tzp"}, ["Cu"])
    with pytest.raises(ValueError, match="no PBEsol PAW setup for Ag: "):
        calculators.check_gpaw({**LCAO, "xc": "PBEsol"}, ["Cu", "Ag"])
    monkeypatch.setattr(gpaw, "setup_paths", [])
    with pytest.raises(ValueError, match=r"in no folder \(install gpaw-data or set GPAW_SETUP_"):
        calculators.check_gpaw(LCAO, ["Cu"])


def test_check_gpaw_leaves_it_to_the_job_environment_without_gpaw(monkeypatch):
    """With ``--sdm conda`` GPAW lives in envs/gpaw.yaml, not where Snakemake validates."""
    monkeypatch.setitem(sys.modules, "gpaw", None)  # import gpaw raises ImportError
    calculators.check_gpaw({**LCAO, "xc": "PBEsol", "basis": "tzp"}, ["Cu"])


def test_config_validation_runs_the_gpaw_check_for_gpaw_only():
    gpaw_section = {"xc": "PBEsol", "basis": "tzp"}
    validate({**copy.deepcopy(SMALL), "reference": {"calculator": "emt", "gpaw": gpaw_section}})
    with pytest.raises(ConfigError, match=r"^config key 'reference.gpaw.xc': no PBEsol PAW"):
        validate({**copy.deepcopy(SMALL), "reference": {"calculator": "gpaw",
                                                        "gpaw": gpaw_section}})


@pytest.mark.parametrize("name, size", [("sz", (1, 0)), ("dzp", (2, 1)), ("tzp", (3, 1)),
                                        ("sz2p", (1, 2)), ("4z3p", (4, 3)), ("dzx", None),
                                        ("PBE", None), ("", None)])
def test_basis_size(name, size):
    assert calculators.basis_size(name) == size
