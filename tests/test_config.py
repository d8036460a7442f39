"""Configuration: every malformed config is rejected before any job, naming the key.

The table drives both the library (:func:`strata.config.validate` on dicts) and, for a few
rows, the real ``snakemake -n --configfile`` in a copy of the workflow.
"""

import copy
import json
import re

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.io import write
from conftest import REPO, run_snakemake

from strata import clusters, config
from strata.config import ConfigError

# A small valid campaign: Pt7Au6 on the 13-atom icosahedron.
BASE = {
    "elements": ["Pt", "Au"],
    "composition": [{"Pt": 7, "Au": 6}],
    "cluster": {"shape": "icosahedron", "size": 2, "lattice_constant": 4.0},
    "rounds": 2,
    "initial_size": 4,
    "batch_size": 2,
    "pool_size": 50,
}
DELETE = object()


def patched(**changes):
    """BASE with dotted keys replaced (``cluster__shape="x"`` is ``cluster.shape``)."""
    result = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = result
        for name in parents:
            target = target.setdefault(name, {})
        if value is DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return result


# (id, config, key named in the message, words the message must contain)
MALFORMED = [
    ("unknown element", patched(elements=["Pt", "Xx"]), "elements", "unknown element 'Xx'"),
    ("dummy element X", patched(elements=["X", "Au"], composition={"X": 7, "Au": 6}),
     "elements", "unknown element 'X'"),
    ("elements not a list", patched(elements="PtAu"), "elements", "not of type 'array'"),
    ("no elements", patched(elements=[]), "elements", "non-empty"),
    ("repeated element", patched(elements=["Pt", "Pt"]), "elements", "non-unique"),
    ("element unknown to EMT", patched(elements=["Pt", "Fe"], composition={"Pt": 7, "Fe": 6}),
     "reference.calculator", "emt has no parameters for ['Fe']"),
    ("composition element not in elements", patched(composition={"Pt": 7, "Ag": 6}),
     "composition", "['Ag'] are not in 'elements'"),
    ("counts do not add up", patched(composition={"Pt": 7, "Au": 7}), "composition",
     "add up to 14 atoms, but the particle has 13"),
    ("counts of a list entry", patched(composition=[{"Pt": 7, "Au": 6}, {"Pt": 3, "Au": 3}]),
     "composition.1", "add up to 6 atoms"),
    ("negative count", patched(composition={"Pt": 14, "Au": -1}), "composition.Au",
     "less than or equal to the minimum of 0"),
    ("zero count", patched(composition={"Pt": 13, "Au": 0}), "composition.Au",
     "less than or equal to the minimum of 0"),
    ("count as text", patched(composition={"Pt": "7", "Au": 6}), "composition.Pt",
     "not of type 'number'"),
    ("empty composition", patched(composition={}), "composition", "is not a composition"),
    ("fractions do not add up", patched(composition={"Pt": 0.5, "Au": 0.3}), "composition",
     "fractions add up to 0.8, not 1"),
    ("fraction rounds to no atom", patched(composition={"Pt": 0.99, "Au": 0.01}),
     "composition", "rounds to zero atoms"),
    ("composition twice", patched(composition=[{"Pt": 7, "Au": 6}, {"Pt": 7, "Au": 6}]),
     "composition.1", "listed twice"),
    ("batch larger than pool", patched(batch_size=60, pool_size=50), "batch_size",
     "larger than 'pool_size' 50"),
    ("batch zero", patched(batch_size=0), "batch_size", "less than the minimum of 1"),
    ("unknown shape", patched(cluster__shape="cube"), "cluster.shape", "'cube' is not one of"),
    ("unknown calculator", patched(reference={"calculator": "vasp"}), "reference.calculator",
     "'vasp' is not one of ['emt', 'gpaw']"),
    ("unknown GPAW mode", patched(reference={"calculator": "gpaw", "gpaw": {"mode": "paw"}}),
     "reference.gpaw.mode", "'paw' is not one of"),
    ("grid spacing zero", patched(reference={"gpaw": {"h": 0}}), "reference.gpaw.h",
     "less than or equal to the minimum of 0"),
    ("SCF iterations zero", patched(reference={"gpaw": {"maxiter": 0}}),
     "reference.gpaw.maxiter", "less than the minimum of 1"),
    ("MPI tasks zero", patched(reference={"resources": {"tasks": 0}}),
     "reference.resources.tasks", "less than the minimum of 1"),
    ("fault injection as a setting", patched(reference={"fault": "raise"}), "reference.fault",
     "STRATA_INJECT_FAULT"),
    ("rounds zero", patched(rounds=0), "rounds", "less than the minimum of 1"),
    ("rounds as text", patched(rounds="four"), "rounds", "'four' is not of type 'integer'"),
    ("rounds as boolean", patched(rounds=True), "rounds", "True is not of type 'integer'"),
    ("rounds fractional", patched(rounds=2.5), "rounds", "not of type 'integer'"),
    ("negative seed", patched(seed=-1), "seed", "less than the minimum of 0"),
    ("initial set of one", patched(initial_size=1), "initial_size", "less than the minimum"),
    ("initial set larger than the orderings",
     patched(elements=["Pt", "Au"], composition={"Pt": 12, "Au": 1}, initial_size=20),
     "initial_size", "only 2 symmetry-distinct exist"),  # Au at the centre or on the surface
    ("initial set larger than the orderings, no symmetry",
     patched(composition={"Pt": 12, "Au": 1}, initial_size=20, search={"symmetry": False}),
     "initial_size", "only 13 exist"),
    ("lattice constant zero", patched(cluster__lattice_constant=0),
     "cluster.lattice_constant", "less than or equal to the minimum of 0"),
    ("lattice constant negative", patched(cluster__lattice_constant=-3.9),
     "cluster.lattice_constant", "less than or equal to the minimum of 0"),
    ("lattice constant NaN", patched(cluster__lattice_constant=float("nan")),
     "cluster.lattice_constant", "not a finite number"),
    ("ground truth infinite", patched(ground_truth_energy=float("inf")),
     "ground_truth_energy", "not a finite number"),
    ("size zero", patched(cluster__size=0), "cluster.size", "less than the minimum of 1"),
    ("size as text", patched(cluster__size="2"), "cluster.size", "not of type 'integer'"),
    ("one-atom particle", patched(cluster__size=1, composition={"Pt": 1}, elements=["Pt"]),
     "cluster.size", "at least 2"),
    ("cutoff too large", patched(cluster={"shape": "truncated_octahedron", "size": 4,
                                          "cutoff": 2, "lattice_constant": 4.0},
                                 composition={"Pt": 0.5, "Au": 0.5}),
     "cluster.cutoff", "needs 2 * cutoff <= size - 1"),
    ("files without folder", patched(cluster__shape="files"), "cluster.folder",
     "needs a folder"),
    ("missing structure folder", patched(cluster__shape="files",
                                         cluster__folder="/nonexistent/strata"),
     "cluster.folder", "/nonexistent/strata does not exist"),
    ("misspelt top-level key", patched(round=3), "round", "unknown key (known here: "),
    ("misspelt nested key", patched(cluster__lattice=4.0), "cluster.lattice", "unknown key"),
    ("unknown model key", patched(model={"n_trees": 5}), "model.n_trees", "unknown key"),
    ("unknown model kind", patched(model={"kind": "forest"}), "model.kind", "is not one of"),
    ("unknown selection key", patched(selection={"explore": 0.2}), "selection.explore",
     "unknown key"),
    ("exploration share above 1", patched(selection={"exploration": 1.5}),
     "selection.exploration", "greater than the maximum of 1"),
    ("search key of an earlier version", patched(selection={"search_passes": 4}),
     "selection.search_passes", "moved to 'search.passes'"),
    ("symmetry under selection", patched(selection={"symmetry": False}),
     "selection.symmetry", "moved to 'search.symmetry'"),
    ("region weights under descriptors", patched(descriptors={"region_weights": {"core": 0}}),
     "descriptors.region_weights", "moved to 'model.region_weights'"),
    ("negative region weight", patched(model={"region_weights": {"core": -1}}),
     "model.region_weights.core", "less than the minimum of 0"),
    ("unknown search key", patched(search={"passes_": 2}), "search.passes_", "unknown key"),
    ("search key in selection", patched(selection={"passes": 2}), "selection.passes",
     "did you mean 'search.passes'?"),
    ("typo in a weighting scheme", patched(report={"weighting_schemes": {"w": {"surfce": 2}}}),
     "report.weighting_schemes.w.surfce", "unknown key"),
    ("ensemble of one", patched(model={"ensemble_size": 1}), "model.ensemble_size",
     "1 is not allowed"),
    ("prior without a block", patched(model={"region_weights": {
        "surface": 0, "intermediate": 0, "core": 0, "cross-region": 0, "global": 0}}),
     "model.region_weights", "every descriptor block the prior uses has weight 0"),
    ("prior only on an absent region", patched(
        descriptors={"intermediate_layers": 0},
        model={"region_weights": {"surface": 0, "core": 0, "cross-region": 0, "global": 0}}),
     "model.region_weights", "every descriptor block the prior uses has weight 0"),
]


def test_table_is_large_enough():
    assert len(MALFORMED) >= 20
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("name, bad, key, words", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_config_is_rejected(name, bad, key, words):
    with pytest.raises(ConfigError) as raised:
        config.validate(bad)
    message = str(raised.value)
    assert message.startswith(f"config key '{key}':"), message
    assert words in message, message


def test_base_and_shipped_configs_are_valid():
    complete = config.validate(copy.deepcopy(BASE))
    assert complete["reference"]["calculator"] == "emt"  # defaults filled in
    assert complete["reference"]["gpaw"]["maxiter"] == 333
    shipped = config.load(REPO / "config" / "config.yaml")
    assert shipped["rounds"] >= 1


@pytest.mark.parametrize("document", ["- a list\n- of things\n", "rounds: [unclosed\n"])
def test_load_rejects_a_file_that_is_not_a_mapping(tmp_path, document):
    path = tmp_path / "bad.yaml"
    path.write_text(document)
    with pytest.raises(ConfigError, match=r"^config"):
        config.load(path)


def test_load_rejects_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file"):
        config.load(tmp_path / "absent.yaml")


def test_fractions_round_by_largest_remainder():
    counts = config.validate(patched(composition={"Pt": 0.5, "Au": 0.5}))
    assert [list(c) for c in config.compositions(counts, 13)] == [[7, 6]]


@pytest.mark.parametrize("composition", [
    {"scan": {"Au": [3, 10]}, "step": 1},
    [{"Cu": 10, "Au": 3}, {"Cu": 3, "Au": 10}],
], ids=["scan", "list"])
def test_one_template_at_vegards_mean_of_the_compositions(composition):
    """A scan or list of Cu-Au compositions is built at Vegard's constant of Cu50Au50 (the
    mean fractions), not at that of its first composition."""
    cfg = config.validate(patched(elements=["Cu", "Au"], composition=composition,
                                  cluster__lattice_constant=None))
    template, = config.templates(cfg)
    middle = clusters.build_template(
        "icosahedron", 2, clusters.default_lattice_constant({"Cu": 1, "Au": 1}))
    np.testing.assert_allclose(template.positions, middle.positions)


def test_config_hash_is_stable_and_sensitive():
    a = config.validate(copy.deepcopy(BASE))
    b = config.validate(json.loads(json.dumps(BASE)))
    assert config.config_hash(a) == config.config_hash(b)
    assert re.fullmatch(r"[0-9a-f]{16}", config.config_hash(a))
    assert config.config_hash(a) != config.config_hash(config.validate(patched(seed=1)))


# ----------------------------------------------------------------------------- structure files

def _particle(symbols, shift=0.0):
    template = clusters.build_template("icosahedron", 2, 4.0)
    atoms = Atoms(symbols, positions=template.positions + shift)
    return atoms


PT7AU6 = ["Pt"] * 7 + ["Au"] * 6


def _files_config(folder):
    return patched(cluster={"shape": "files", "folder": str(folder)})


def test_well_formed_structure_folder_is_accepted(tmp_path):
    write(tmp_path / "a.xyz", _particle(PT7AU6, shift=5.0))
    write(tmp_path / "b.extxyz", _particle(PT7AU6[::-1]), format="extxyz")
    write(tmp_path / "c.cif", Atoms(_particle(PT7AU6), cell=[20, 20, 20], pbc=True))
    (tmp_path / "notes.txt").write_text("not a structure: ignored")
    complete = config.validate(_files_config(tmp_path))
    templates, counts = config.check_campaign(complete)
    assert len(templates) == 3 and all(len(t) == 13 for t in templates)
    assert all(np.allclose(t.positions.mean(axis=0), 0, atol=1e-9) for t in templates)
    assert not templates[2].pbc.any()
    assert [list(c) for c in counts] == [[7, 6]]


def _write_bad(folder, case):
    if case == "unreadable":
        write(folder / "a.xyz", _particle(PT7AU6))
        (folder / "b.xyz").write_text("13\nbroken\nPt 0 0\n")
    elif case == "binary garbage":
        (folder / "a.traj").write_bytes(b"\x00\x01not a trajectory")
    elif case == "wrong composition":
        write(folder / "a.xyz", _particle(["Pt"] * 8 + ["Au"] * 5))
    elif case == "element not in campaign":
        write(folder / "a.xyz", _particle(["Pt"] * 7 + ["Cu"] * 6))
    elif case == "overlapping atoms":
        atoms = _particle(PT7AU6)
        atoms.positions[1] = atoms.positions[0] + [0.1, 0, 0]
        write(folder / "a.xyz", atoms)
    elif case == "mixed sizes":
        write(folder / "a.xyz", _particle(PT7AU6))
        big = clusters.build_template("icosahedron", 3, 4.0)
        write(folder / "b.xyz", Atoms(["Pt"] * 28 + ["Au"] * 27, positions=big.positions))
    elif case == "single atom":
        write(folder / "a.xyz", Atoms("Pt", positions=[[0, 0, 0]]))
    elif case == "no structure file":
        (folder / "readme.md").write_text("nothing here")


BAD_FILES = [
    ("unreadable", "b.xyz: unreadable structure file"),
    ("binary garbage", "a.traj: unreadable structure file"),
    ("wrong composition", "structure 0 has composition Au5Pt8, which is not a configured"),
    ("element not in campaign", "structure 0:"),
    ("overlapping atoms", "overlapping atoms (closest pair 0.10 Å"),
    ("mixed sizes", "mixed particle sizes [13, 55]"),
    ("single atom", "a particle needs at least 2 atoms, found 1"),
    ("no structure file", "holds no structure file"),
]


@pytest.mark.parametrize("case, words", BAD_FILES, ids=[c for c, _ in BAD_FILES])
def test_malformed_structure_folder_is_rejected(tmp_path, case, words):
    _write_bad(tmp_path, case)
    with pytest.raises(ConfigError) as raised:
        config.validate(_files_config(tmp_path))
    message = str(raised.value)
    assert message.startswith("config key 'cluster.folder':"), message
    assert words in message, message


# ----------------------------------------------------------------------------- the real CLI

CLI_CASES = [
    ("unknown element", {"elements": ["Pt", "Xx"]}, "config key 'elements': unknown element"),
    ("counts", {"composition": [{"Ag": 27, "Au": 24}]},
     "config key 'composition.0': counts add up to 51 atoms, but the particle has 55"),
    ("batch", {"batch_size": 30, "pool_size": 20}, "config key 'batch_size': 30 is larger"),
    ("folder", {"cluster": {"shape": "files", "folder": "no/such/folder"}},
     "config key 'cluster.folder': structure folder no/such/folder does not exist"),
    ("rounds", {"rounds": 0}, "config key 'rounds': 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize("name, bad, words", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_snakemake_refuses_a_malformed_config(workflow_copy, name, bad, words):
    (workflow_copy / "bad.yaml").write_text(yaml.safe_dump(bad))
    done = run_snakemake(workflow_copy, "-n", "--configfile", "bad.yaml", timeout=120)
    assert done.returncode != 0
    assert words in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
    assert not (workflow_copy / "results").exists()


def test_snakemake_accepts_a_structure_folder(workflow_copy):
    folder = workflow_copy / "structures"
    folder.mkdir()
    for i in range(2):
        write(folder / f"p{i}.xyz", _particle(PT7AU6[i:] + PT7AU6[:i]))
    good = {"elements": ["Pt", "Au"], "composition": [{"Pt": 7, "Au": 6}],
            "initial_size": 4, "batch_size": 2,
            "pool_size": 50, "rounds": 1,
            "cluster": {"shape": "files", "folder": "structures"}}
    (workflow_copy / "good.yaml").write_text(yaml.safe_dump(good))
    done = run_snakemake(workflow_copy, "-n", "--configfile", "good.yaml", timeout=120)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "generate_candidates" in done.stdout + done.stderr
    assert not (workflow_copy / "results").exists()


def schema_keys(node, path=()):
    """Every key path of the schema with its subschema."""
    for name, sub in node.get("properties", {}).items():
        yield (*path, name), sub
        yield from schema_keys(sub, (*path, name))


def test_every_schema_key_has_a_description_and_default_and_is_in_config_yaml():
    default_campaign = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path, sub in schema_keys(config.schema()):
        assert sub.get("description"), path
        assert "default" in sub, path
        node = default_campaign
        for name in path:
            assert isinstance(node, dict) and name in node, f"{'.'.join(path)} not in config.yaml"
            node = node[name]


PRESETS = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name != "config.yaml")


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_is_a_valid_campaign(workflow_copy, preset):
    """Each preset in config/, laid over config.yaml as Snakemake does, passes the workflow's
    validation and plans a campaign (dry run) through the profile `make campaign` uses."""
    done = run_snakemake(workflow_copy, "-n", "--profile", "profiles/local", "--configfile",
                         f"config/{preset}", timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "generate_candidates" in done.stdout + done.stderr
    assert not (workflow_copy / "results").exists()
    # the environment blocks' pair coefficients: one job for the campaign, none without them
    blocks = (yaml.safe_load((REPO / "config" / preset).read_text()).get("descriptors") or {}
              ).get("blocks", ["layers"])
    planned = (done.stdout + done.stderr).count("rule pair_coefficients:")
    assert planned == (1 if set(blocks) - {"layers"} else 0), blocks


def test_presets_exist():
    assert PRESETS, "config/ ships no preset besides config.yaml"
