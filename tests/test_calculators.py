"""Calculators: the settings that decide a result, EMT and GPAW built from them."""

import copy

from ase.calculators.emt import EMT as EMTCalculator
from ase.calculators.emt import parameters as emt_parameters
from conftest import EMT, GPAW

from strata import calculators
from strata.clusters import build_template
from strata.config import validate

SMALL = {"elements": ["Pt", "Au"], "composition": {"Pt": 7, "Au": 6}, "cluster": {"size": 2},
         "initial_size": 2}


def test_calculator_settings_leave_resources_out():
    section = {"calculator": "emt", "relax": EMT["relax"], "gpaw": GPAW["gpaw"],
               "resources": {"tasks": 4}}
    assert calculators.calculator_settings(section) == EMT
    gpaw = calculators.calculator_settings(dict(section, calculator="gpaw"))
    assert gpaw["gpaw"] == GPAW["gpaw"] and "resources" not in gpaw


def test_calculator_settings_of_a_validated_config_hold_no_fault():
    """Fault injection is not a setting: a complete config gives only what decides a result."""
    for calculator, keys in (("emt", {"calculator", "relax"}),
                             ("gpaw", {"calculator", "relax", "gpaw"})):
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
