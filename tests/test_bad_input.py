"""Bad input, as a tired user types it (issue 13): rejected before any job, naming the key.

Every row of :data:`BAD_INPUT` (and of :data:`STRUCTURE_AND_GPAW_CASES`) goes through
:func:`strata.config.validate`; a handful go through the real ``snakemake -n`` in a copy of the
workflow, which must print one line naming the key (or the file and line), no traceback, and
create no ``results/``. Config files are re-read strictly by :mod:`strata.configfiles`.
What Snakemake rejects before Strata sees anything is documented in the README's
Troubleshooting section; :data:`SNAKEMAKE_OWN` checks that the symptoms quoted there are real.
"""

import copy
import itertools

import numpy as np
import pytest
from conftest import REPO, run_snakemake
from test_clusters import BAD_STRUCTURES, bad_structure_folder
from test_config import patched

from strata import config, configfiles, particlechecks
from strata.clusters import build_template
from strata.config import ConfigError
from strata.settings import DescriptorSettings
from strata.symmetry import canonical_orderings, count_distinct_orderings, point_group_permutations

#: the PtAu147 benchmark's particle: Pt74Au73 on the 147-atom Mackay icosahedron
PT147 = {"composition": {"Pt": 74, "Au": 73},
         "cluster": {"shape": "icosahedron", "size": 4, "lattice_constant": 4.0}}


def on147(**changes):
    """:func:`patched` on the 147-atom icosahedron."""
    return patched(**{**PT147, **changes})


# (id, config, key named in the message, words the message must contain)
BAD_INPUT = [
    # the cases: integer-valued floats (JSON Schema counts 2.0 as an integer)
    ("rounds 2.0", patched(rounds=2.0), "rounds", "2.0 is not a whole number; write 2"),
    ("cluster.size 2.0", patched(cluster__size=2.0), "cluster.size",
     "2.0 is not a whole number; write 2"),
    ("batch_size 2.0", patched(batch_size=2.0), "batch_size", "2.0 is not a whole number"),
    ("seed 1.0", patched(seed=1.0), "seed", "1.0 is not a whole number; write 1"),
    ("stop_after 3.0 (integer or null)", patched(selection={"stop_after": 3.0}),
     "selection.stop_after", "3.0 is not a whole number; write 3"),
    ("MPI tasks 4.0", patched(reference={"resources": {"tasks": 4.0}}),
     "reference.resources.tasks", "4.0 is not a whole number"),
    ("boosting rounds 200.0", patched(model={"n_estimators": 200.0}), "model.n_estimators",
     "write 200"),
    # the bond factor: a typo for 1.2, and factors that leave no surface or bond the 2nd shell
    ("bond_factor 12", patched(descriptors={"bond_factor": 12}), "descriptors.bond_factor",
     "12 is greater than the maximum of 2"),
    ("bond_factor 2 bonds far neighbours", on147(descriptors={"bond_factor": 2.0}),
     "descriptors.bond_factor", "has 42 neighbours (a metal atom has at most 16"),
    ("bond_factor 1.7 bonds the second shell", on147(descriptors={"bond_factor": 1.7}),
     "descriptors.bond_factor", "has 18 neighbours"),
    ("bond_factor 0.5 bonds nothing", patched(descriptors={"bond_factor": 0.5}),
     "descriptors.bond_factor", "no two atoms of template 0 are bonded"),
    ("lattice constant in nm", patched(cluster__lattice_constant=0.392),
     "cluster.lattice_constant", "0.392 Å is far from the 3.99 Å that Vegard's law gives"),
    ("lattice constant in Bohr", patched(cluster__lattice_constant=7.41),
     "cluster.lattice_constant", "a value in nm or Bohr"),
    ("lattice constant 40 for 4.0", patched(cluster__lattice_constant=40),
     "cluster.lattice_constant", "misplaced decimal point"),
    ("Vegard's law for an element without a crystal", patched(
        elements=["Pt", "H"], composition={"Pt": 7, "H": 6}, cluster__lattice_constant=None),
     "cluster.lattice_constant", "no crystal reference state for H; give the lattice constant"),
    ("lower-case composition with Vegard's law",
     patched(composition={"pt": 7, "au": 6}, cluster__lattice_constant=None), "composition",
     "did you mean 'Au', 'Pt'?"),
    ("bulk_coordination 1 leaves no surface", patched(descriptors={"bulk_coordination": 1}),
     "descriptors.bulk_coordination", "is on the surface; a close-packed metal has 12"),
    # more initial orderings than symmetry-distinct ones
    ("initial_size above the distinct orderings (147)",
     on147(composition={"Pt": 146, "Au": 1}, initial_size=20), "initial_size",
     "only 7 symmetry-distinct exist"),
    ("initial_size above the distinct orderings (13)",
     patched(composition={"Pt": 11, "Au": 2}, initial_size=5), "initial_size",
     "only 4 symmetry-distinct exist on 1 template(s); lower initial_size to at most 4"),
    ("initial_size, three elements",
     patched(elements=["Pt", "Au", "Cu"], composition={"Pt": 11, "Au": 1, "Cu": 1},
             initial_size=6), "initial_size", "only 5 symmetry-distinct exist"),
    # 2 a.m.
    ("composition as a string", patched(composition="Pt74Au73"), "composition",
     "'Pt74Au73' is not a composition; write element → count, e.g. {Pt: 74, Au: 73}"),
    ("composition null", patched(composition=None), "composition", "is not a composition"),
    ("composition as a list of pairs", patched(composition=[{"Pt": 7}, {"Au": 6}]),
     "composition", "lists 2 one-element ones; write {Pt: 7, Au: 6}"),
    ("composition without a space after ':'", patched(composition={"Pt:7": None, "Au:6": None}),
     "composition.Au:6", "write 'Au: 6' with a space after the ':'"),
    ("composition mixes counts and fractions", patched(composition={"Pt": 0.5, "Au": 6}),
     "composition", "mixes counts and fractions"),
    ("composition in lower case", patched(composition={"pt": 7, "au": 6}), "composition",
     "did you mean 'Au', 'Pt'? (symbols are case-sensitive)"),
    ("composition element not in elements", patched(composition={"Pt": 7, "Cu": 6}),
     "composition", "elements ['Cu'] are not in 'elements' ['Pt', 'Au']"),
    ("elements in lower case", patched(elements=["pt", "au"], composition={"pt": 7, "au": 6}),
     "elements", "unknown element 'pt'; did you mean 'Pt'?"),
    ("elements as one string", patched(elements="Pt, Au"), "elements",
     "a list: write it in brackets, e.g. [Pt, Au]"),
    ("rounds -1", patched(rounds=-1), "rounds", "-1 is less than the minimum of 1"),
    ("batch_size in quotes", patched(batch_size="5"), "batch_size",
     "text, not a number: write 5 without quotes"),
    ("pool_size negative", patched(pool_size=-100), "pool_size", "less than the minimum of 1"),
    ("shape icosahedra", patched(cluster__shape="icosahedra"), "cluster.shape",
     "did you mean 'icosahedron'?"),
    ("calculator GPAW", patched(reference={"calculator": "GPAW"}), "reference.calculator",
     "did you mean 'gpaw'?"),
    ("surface_method capitalised", patched(descriptors={"surface_method": "Coordination"}),
     "descriptors.surface_method", "did you mean 'coordination'?"),
    ("cluster as a shape name", patched(cluster="icosahedron"), "cluster",
     "'cluster' is a section: put its keys"),
    ("initial_motifs as a string", patched(initial_motifs="random"), "initial_motifs",
     "e.g. [random]"),
    ("cluster.size as atoms", patched(cluster__size=147), "cluster.size",
     "an icosahedron of size 147 has 10,480,903 atoms"),
    ("octahedron edge of 40", patched(cluster__shape="octahedron", cluster__size=40),
     "cluster.size", "atoms along an edge"),
]


# ---- structure files and GPAW settings (filled by the engineer on strata/clusters.py and strata/calculators.py)  # noqa: E501
STRUCTURE_AND_GPAW_CASES = [
    *[(f"structure folder: {case}",
       patched(cluster={"shape": "files", "folder": str(bad_structure_folder(case))}),
       "cluster.folder", words) for case, (_, words) in BAD_STRUCTURES.items()],
    ("gpaw xc PBEsol (no setups in gpaw-data)",
     patched(reference={"calculator": "gpaw", "gpaw": {"xc": "PBEsol"}}), "reference.gpaw.xc",
     "no PBEsol PAW setup for Pt, Au: GPAW looks for Pt.PBEsol[.gz] in "),
    ("gpaw basis tzp (not in gpaw-data)",
     patched(reference={"calculator": "gpaw", "gpaw": {"basis": "tzp"}}),
     "reference.gpaw.basis", "no basis set tzp for Pt, Au: GPAW looks for Pt.tzp.basis[.gz]"),
    ("gpaw B3LYP with lcao", patched(reference={"calculator": "gpaw", "gpaw": {"xc": "B3LYP"}}),
     "reference.gpaw.xc", "B3LYP is a hybrid functional, which GPAW runs only in plane-wave "
     "mode, not with reference.gpaw.mode: lcao"),
    ("gpaw PBE0 with fd",
     patched(reference={"calculator": "gpaw", "gpaw": {"xc": "PBE0", "mode": "fd"}}),
     "reference.gpaw.xc", "not with reference.gpaw.mode: fd"),
    ("gpaw xc in lower case", patched(reference={"calculator": "gpaw", "gpaw": {"xc": "pbe"}}),
     "reference.gpaw.xc", "'pbe' is not a functional GPAW knows; did you mean 'PBE'?"),
    ("gpaw meta-GGA with lcao",
     patched(reference={"calculator": "gpaw", "gpaw": {"xc": "TPSS"}}), "reference.gpaw.xc",
     "TPSS is a meta-GGA, which GPAW's LCAO mode does not implement"),
    ("gpaw RPBE for a lanthanide (no RPBE setup for La)",
     patched(elements=["Pt", "La"], composition={"Pt": 7, "La": 6},
             reference={"calculator": "gpaw", "gpaw": {"xc": "RPBE"}}),
     "reference.gpaw.xc", "no RPBE PAW setup for La:"),
    ("gpaw basis tzp(dzp) (larger than dzp)",
     patched(reference={"calculator": "gpaw", "gpaw": {"basis": "tzp(dzp)"}}),
     "reference.gpaw.basis", "tzp is larger than dzp, so GPAW would silently use all of dzp"),
    ("gpaw basis sz (only inside dzp)",
     patched(reference={"calculator": "gpaw", "gpaw": {"basis": "sz"}}),
     "reference.gpaw.basis", "(the sz part of dzp is written sz(dzp))"),
]

ALL_CASES = BAD_INPUT + STRUCTURE_AND_GPAW_CASES


@pytest.mark.parametrize("name, bad, key, words", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_bad_input_is_rejected_naming_the_key(name, bad, key, words):
    with pytest.raises(ConfigError) as raised:
        config.validate(copy.deepcopy(bad))
    message = str(raised.value)
    assert message.startswith(f"config key '{key}':"), message
    assert words in message, message
    assert "\n" not in message, message


def test_integer_valued_floats_are_fine_where_a_number_is_meant():
    complete = config.validate(patched(composition={"Pt": 7.0, "Au": 6.0},
                                       model={"learning_rate": 1, "reg_lambda": 2}))
    assert config.compositions(complete, 13)[0].tolist() == [7, 6]


def test_no_surface_names_the_bond_factor(icosahedron147):
    settings = DescriptorSettings.from_config(["Pt", "Au"], {"bond_factor": 2.0})
    key, message = particlechecks.surface_problem([icosahedron147], settings)
    assert key == "descriptors.bond_factor"
    assert "no atom of template 0 (147 atoms" in message and "1.1–1.3 is usual" in message
    usual = DescriptorSettings.from_config(["Pt", "Au"], {"bond_factor": 1.2})
    assert particlechecks.surface_problem([icosahedron147], usual) is None


# ----------------------------------------------------------------------------- counting

def _brute_force_distinct(template, counts):
    """Distinct orderings of two elements, by canonicalising every placement of the second."""
    rows = []
    for sites in itertools.combinations(range(len(template)), counts[1]):
        row = np.zeros(len(template), dtype=np.int8)
        row[list(sites)] = 1
        rows.append(row)
    canonical = canonical_orderings(np.array(rows), point_group_permutations(template))
    return len({row.tobytes() for row in canonical})


@pytest.mark.parametrize("counts", [(12, 1), (11, 2), (10, 3), (7, 6), (13, 0)])
def test_burnside_count_matches_a_brute_force_count(counts):
    template = build_template("icosahedron", 2, 4.0)
    expected = _brute_force_distinct(template, counts)
    assert count_distinct_orderings(point_group_permutations(template), counts) == expected


def test_distinct_orderings_skip_symmetry_when_off_or_too_many():
    template = build_template("icosahedron", 2, 4.0)
    assert particlechecks.distinct_orderings([template], (11, 2), symmetry=False) == 78
    assert particlechecks.distinct_orderings([template, template], (11, 2)) == 8
    big = particlechecks.distinct_orderings([build_template("icosahedron", 4, 4.0)], (74, 73))
    assert big == particlechecks.plain_orderings((74, 73))  # not reduced: > MAX_COUNTED


@pytest.mark.parametrize("shape, size, cutoff", [
    ("icosahedron", 4, 1), ("decahedron", 3, 1), ("octahedron", 5, 1),
    ("truncated_octahedron", 7, 3)])
def test_ideal_atom_counts_match_ase(shape, size, cutoff):
    built = build_template(shape, size, 4.0, cutoff=cutoff)
    assert particlechecks.ideal_atoms(shape, size, cutoff) == len(built)


# ----------------------------------------------------------------------------- config files

BAD_FILES = [
    ("key given twice", "rounds: 3\nseed: 1\nrounds: 4\n",
     "lines 1 and 3: key 'rounds' is given twice"),
    ("nested key given twice", "cluster:\n  size: 3\n  shape: octahedron\n  size: 4\n",
     "lines 2 and 4: key 'cluster.size' is given twice"),
    ("tab", "cluster:\n\tsize: 3\n", "line 2, column 1: found character '\\t'"),
    ("indentation", "cluster:\n  size: 3\n   shape: icosahedron\n", "line 3, column 9"),
    ("unclosed bracket", "rounds: 2\nelements: [Pt, Au\n", "begun on line 2"),
    ("unclosed quote", "cluster:\n  shape: \"icosahedron\nrounds: 2\n", "an unclosed quote"),
    ("no space after ':'", "rounds:3\n", "line 1: 'rounds:3' is not 'key: value'"),
    ("empty", "", "is empty (or only comments)"),
    ("only comments", "# rounds: 4\n", "is empty"),
    ("a list", "- rounds: 3\n", "holds a list, not a mapping"),
    ("JSON key given twice", '{"rounds": 3, "rounds": 4}', "key 'rounds' is given twice"),
]


@pytest.mark.parametrize("name, text, words", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_config_file_problems_name_the_file_and_line(tmp_path, name, text, words):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    with pytest.raises(configfiles.ConfigFileError) as raised:
        configfiles.read_configfile(path)
    message = str(raised.value)
    assert message.startswith(f"config file {path}"), message
    assert words in message and "\n" not in message, message
    with pytest.raises(ConfigError):
        config.load(path)  # load reads strictly too


def test_configfiles_cli_and_missing_files(tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rounds: 3\n")
    bad.write_text("rounds: 3\nrounds: 4\n")
    assert configfiles.main([str(good)]) == 0
    assert configfiles.main([str(good), str(bad)]) == 1
    assert "given twice" in capsys.readouterr().err
    configfiles.check_configfiles([tmp_path / "absent.yaml", good])  # missing: Snakemake's
    assert configfiles.read_configfile(REPO / "config" / "config.yaml")["rounds"] >= 1


# ----------------------------------------------------------------------------- the real CLI

#: (id, files to write into the workflow copy, snakemake arguments, the one line expected)
CLI_CASES = [
    ("--config rounds=2.0", {}, ["--config", "rounds=2.0"],
     "config key 'rounds': 2.0 is not a whole number; write 2"),
    ("cluster.size 2.0", {"bad.yaml": "cluster:\n  size: 2.0\n"}, ["--configfile", "bad.yaml"],
     "config key 'cluster.size': 2.0 is not a whole number; write 2"),
    ("bond_factor 12", {"bad.yaml": "descriptors:\n  bond_factor: 12\n"},
     ["--configfile", "bad.yaml"], "config key 'descriptors.bond_factor': 12 is greater"),
    ("initial_size", {"bad.yaml": "composition: [{Ag: 54, Au: 1}]\n"},
     ["--configfile", "bad.yaml"], "only 4 symmetry-distinct exist"),
    ("key given twice", {"bad.yaml": "rounds: 3\nseed: 2\nrounds: 4\n"},
     ["--configfile", "bad.yaml"], "bad.yaml, lines 1 and 3: key 'rounds' is given twice"),
    ("tab in the default config", {"config/config.yaml": "rounds: 3\ncluster:\n\tsize: 3\n"}, [],
     "config file config/config.yaml, line 3, column 1: found character '\\t'"),
    ("composition as a string", {"bad.yaml": "composition: Pt74Au73\n"},
     ["--configfile", "bad.yaml"], "config key 'composition': 'Pt74Au73' is not a composition"),
]


@pytest.mark.parametrize("name, files, args, line", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_snakemake_stops_with_one_line(workflow_copy, name, files, args, line):
    for relative, text in files.items():
        (workflow_copy / relative).write_text(text)
    done = run_snakemake(workflow_copy, "-n", *args, timeout=120)
    assert done.returncode == 1
    assert line in done.stderr.splitlines()[-1], done.stderr[-2000:]
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr, done.stderr[-2000:]
    assert not (workflow_copy / "results").exists()


#: what Snakemake itself reports before the Snakefile runs: (id, files, arguments, symptom);
#: each symptom is quoted in the README's Troubleshooting section
SNAKEMAKE_OWN = [
    ("misspelt --configfile", {}, ["--configfile", "confg.yaml"],
     "No such file or directory: 'confg.yaml'"),
    ("dotted --config key", {}, ["--config", "cluster.size=3"],
     "Config entry must start with a valid identifier"),
    ("--config without '='", {}, ["--config", "rounds"],
     "Config entries have to be defined as name=value pairs"),
    ("YAML error in a --configfile", {"bad.yaml": "cluster:\n\tsize: 3\n"},
     ["--configfile", "bad.yaml"], "Config file is not valid JSON or YAML"),
    ("empty --configfile", {"bad.yaml": ""}, ["--configfile", "bad.yaml"],
     "Config file must be given as JSON or YAML with keys at top level"),
]


@pytest.mark.parametrize("name, files, args, symptom", SNAKEMAKE_OWN,
                         ids=[c[0] for c in SNAKEMAKE_OWN])
def test_snakemake_own_failures_are_documented(workflow_copy, name, files, args, symptom):
    for relative, text in files.items():
        (workflow_copy / relative).write_text(text)
    done = run_snakemake(workflow_copy, "-n", *args, timeout=120)
    assert done.returncode != 0
    assert symptom in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
    assert not (workflow_copy / "results").exists()
    troubleshooting = (REPO / "README.md").read_text().split("## Troubleshooting")[1]
    assert symptom in troubleshooting
