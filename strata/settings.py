"""Typed, frozen settings of a campaign, one class per config section.

Every default lives in ``workflow/schemas/config.schema.yaml`` and nowhere else: a settings
object is built from a config section *after* the schema has filled it in
(:func:`section_with_defaults` does that for one section, e.g. in tests or notebooks). The
objects are built once, from the validated config, and passed down to the job functions of
:mod:`strata.rounds`; nothing below them reads a config dict.

>>> from strata.settings import ModelSettings
>>> ModelSettings.from_config({"n_estimators": 50}).learning_rate   # the schema's default
0.05
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


@functools.cache
def schema():
    """The JSON schema of the campaign configuration (read once; do not modify)."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def schema_default(section, key):
    """The schema's default of ``section.key`` (for library functions that take one)."""
    return schema()["properties"][section]["properties"][key]["default"]

def section_with_defaults(name, values=None):
    """Config section ``name`` with every default of the schema filled in.

    Parameters
    ----------
    name : str
        A top-level key of the schema whose value is an object (``model``, ``search``, …).
    values : dict, optional
        The keys set by hand; they are checked against the schema.

    Raises
    ------
    strata.config.ConfigError
        For an unknown key or a value of the wrong type, naming ``name.key``.
    """
    from strata.config import validate_section

    section = json.loads(json.dumps(values or {}))
    validate_section(name, section)
    return section


def _frozen(value):
    """Read-only view of mappings (nested), tuples for lists: settings stay hashable-ish."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value):
    """Inverse of :func:`_frozen`: JSON-ready dicts and lists."""
    if isinstance(value, MappingProxyType | dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class _Section:
    """Shared constructors of the section settings (a frozen dataclass per section)."""

    SECTION = ""

    @classmethod
    def from_config(cls, values=None):
        """Settings from a config section (missing keys take the schema's defaults)."""
        section = section_with_defaults(cls.SECTION, values)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _frozen(v) for k, v in section.items() if k in names})

    def to_dict(self):
        """The section as plain JSON-ready data (inverse of :meth:`from_config`)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes):
        """A copy with ``changes`` (checked against the schema like a config section)."""
        return type(self).from_config({**self.to_dict(), **changes})


@dataclass(frozen=True)
class ModelSettings(_Section):
    """The ``model`` section: the LightGBM surrogate and its linear prior."""

    SECTION = "model"
    kind: str
    levels: int
    label_gain: str
    n_estimators: int
    learning_rate: float
    num_leaves: int
    max_depth: int
    min_child_samples: int
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    linear_tree: bool
    prior: str
    prior_weight: float
    prior_features: str
    prior_blocks: tuple
    prototypes: int
    region_weights: MappingProxyType
    ensemble_size: int
    group_by_template: bool | str

    def region_weight(self, block):
        """Weight of one descriptor block in the linear prior."""
        return float(self.region_weights.get(block, 1.0))


@dataclass(frozen=True)
class SearchSettings(_Section):
    """The ``search`` section: how each round's candidate pool is built on the model."""

    SECTION = "search"
    passes: int
    population: int
    children: int
    neighbourhood: int
    polish: int
    compound_swaps: int
    exact_seconds: float
    prior_starts: int
    screen: int
    parents: int
    max_swaps: int
    fresh_share: float
    structured: bool
    symmetry: bool
    symmetry_tolerance: float


@dataclass(frozen=True)
class SelectionSettings(_Section):
    """The ``selection`` section: how the batch is chosen from the pool, and when to stop."""

    SECTION = "selection"
    exploration: float
    exploration_method: str
    exploration_top: float
    batch_distinct_scores: bool
    batch_min_distance: int
    stop_after: int | None
    stop_chance: float | None
    stop_chance_rounds: int


@dataclass(frozen=True)
class ReportSettings(_Section):
    """The ``report`` section; ``formula`` and ``chart`` are their stages' settings."""

    SECTION = "report"
    best_structures: int
    shap_samples: int
    ablation: bool
    weighting_schemes: MappingProxyType
    formula: FormulaSettings = None
    chart: ChartSettings = None

    def __post_init__(self):
        for name, kind in (("formula", FormulaSettings), ("chart", ChartSettings)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                object.__setattr__(self, name, kind(**_report_defaults(name, value)))

    def to_dict(self):
        return {**super().to_dict(), "formula": dataclasses.asdict(self.formula),
                "chart": dataclasses.asdict(self.chart)}


def _report_defaults(part, values=None):
    """``report.<part>`` with the schema's defaults filled in."""
    section = schema()["properties"]["report"]["properties"][part]["properties"]
    return {key: spec["default"] for key, spec in section.items()} | dict(values or {})


@dataclass(frozen=True)
class FormulaSettings:
    """The ``report.formula`` settings (see :mod:`strata.formula`).

    Parameters
    ----------
    enabled : bool
    features : int
        Features screened by mean |SHAP|.
    max_size : int
        Largest expression kept (nodes).
    population, generations : int
        Of the symbolic regression (gplearn).
    parsimony : float
        Correlation given up per node.
    """

    enabled: bool
    features: int
    max_size: int
    population: int
    generations: int
    parsimony: float


@dataclass(frozen=True)
class ChartSettings:
    """The ``report.chart`` settings (see :mod:`strata.chart`).

    Parameters
    ----------
    enabled : bool
    input : str
        ``rdf`` or ``layers``.
    pool_sample : int
        Pool candidates drawn into the chart.
    background : int
        Random orderings that anchor the map, the same every round.
    r_max, bins, width : float, int, float
        Of the radial distribution functions.
    perplexity : float
        Of t-SNE.
    min_family : int
        Smallest motif family.
    """

    enabled: bool
    input: str
    pool_sample: int
    background: int
    r_max: float
    bins: int
    width: float
    perplexity: float
    min_family: int


SURFACE_METHODS = ("coordination", "geometric", "consensus")
#: descriptor blocks (``descriptors.blocks``)
BLOCKS = ("layers", "local", "long_range")


@dataclass(frozen=True, kw_only=True)
class LayerSettings:
    """Settings of the neighbour graph, the surface test and the regions.

    Parameters
    ----------
    bond_factor : float
        *f* in ``d_ij < f (r_i + r_j)``.
    bulk_coordination : int
        Coordination of a bulk atom of the lattice (12 for fcc/hcp/icosahedral
        close packing, 8 for bcc); atoms below it are surface atoms.
    intermediate_layers : int
        *k*: layers 1..k form the intermediate region, layers > k the core.
        With ``k = 0`` there is no intermediate region.
    surface_method : str
        ``"coordination"`` (coordination below ``bulk_coordination``),
        ``"geometric"`` (a probe sphere touches the atom from outside, see
        :func:`strata.layers.exposed_atoms`) or ``"consensus"`` (both).
    site_bins : tuple of int
        Coordination numbers where the surface site classes start:
        vertex < ``site_bins[0]`` <= edge < ``site_bins[1]`` <= facet.
        The default (7, 9) puts icosahedral and (111) facets (CN 9) in
        *facet*, icosahedral edges (CN 8) and fcc edges (CN 7) in *edge*
        and corners (CN <= 6) in *vertex*; (100) facets (CN 8) count as edge.
    neighbour_counts : bool
        Add the layer block's neighbour-count columns
        (:func:`strata.descriptors.neighbour_count_groups`).
    """

    bond_factor: float = schema_default("descriptors", "bond_factor")
    bulk_coordination: int = schema_default("descriptors", "bulk_coordination")
    intermediate_layers: int = schema_default("descriptors", "intermediate_layers")
    surface_method: str = schema_default("descriptors", "surface_method")
    site_bins: tuple[int, int] = (7, 9)
    neighbour_counts: bool = schema_default("descriptors", "neighbour_counts")

    def __post_init__(self):
        if self.bond_factor <= 0:
            raise ValueError(f"bond_factor must be positive, got {self.bond_factor}")
        if self.intermediate_layers < 0:
            raise ValueError("intermediate_layers must be >= 0")
        if self.surface_method not in SURFACE_METHODS:
            raise ValueError(
                f"surface_method must be one of {SURFACE_METHODS}, got {self.surface_method!r}"
            )
        if len(self.site_bins) != 2 or self.site_bins[0] > self.site_bins[1]:
            raise ValueError(f"site_bins must be two increasing numbers, got {self.site_bins}")

    @property
    def region_names(self) -> tuple[str, ...]:
        """Region names from the outside in; no intermediate region when k = 0."""
        if self.intermediate_layers == 0:
            return ("surface", "core")
        return ("surface", "intermediate", "core")


def _block_default(block, key):
    """The schema's default of ``descriptors.<block>.<key>``."""
    section = schema()["properties"]["descriptors"]["properties"][block]
    return section["properties"][key]["default"]


@dataclass(frozen=True)
class LocalSettings:
    """Hyper-parameters of the ``local`` block (see :mod:`strata.environments`).

    Parameters
    ----------
    cutoff, smoothing, width : float
        Cut-off radius, shifted-cosine switch-off width and Gaussian density width (Angstrom).
    max_radial, max_angular : int
        Highest radial index n and angular degree l of the expansion.
    shells : int
        Shell averages k = 0 … shells over bonded neighbours.
    """

    cutoff: float = _block_default("local", "cutoff")
    smoothing: float = _block_default("local", "smoothing")
    width: float = _block_default("local", "width")
    max_radial: int = _block_default("local", "max_radial")
    max_angular: int = _block_default("local", "max_angular")
    shells: int = _block_default("local", "shells")

    name = "local"

    def hypers(self):
        """featomic hyper-parameters of the spherical expansion."""
        return {
            "cutoff": {"radius": self.cutoff,
                       "smoothing": {"type": "ShiftedCosine", "width": self.smoothing}},
            "density": {"type": "Gaussian", "width": self.width},
            "basis": {"type": "TensorProduct", "max_angular": self.max_angular,
                      "radial": {"type": "Gto", "max_radial": self.max_radial}},
        }


@dataclass(frozen=True)
class LongRangeSettings:
    """Hyper-parameters of the ``long_range`` block (see :mod:`strata.environments`).

    Parameters
    ----------
    smearing : float
        Gaussian smearing of each atom's charge (Angstrom).
    exponent : int
        The potential decays as 1/r^exponent.
    radius : float
        Radius of the radial basis at each atom (Angstrom).
    vacuum : float
        Vacuum around the particle in the periodic box that LODE needs (Angstrom).
    max_radial, max_angular, shells : int
        As for :class:`LocalSettings`.
    """

    smearing: float = _block_default("long_range", "smearing")
    exponent: int = _block_default("long_range", "exponent")
    radius: float = _block_default("long_range", "radius")
    vacuum: float = _block_default("long_range", "vacuum")
    max_radial: int = _block_default("long_range", "max_radial")
    max_angular: int = _block_default("long_range", "max_angular")
    shells: int = _block_default("long_range", "shells")

    name = "long_range"

    def hypers(self):
        """featomic hyper-parameters of the LODE spherical expansion."""
        return {
            "density": {"type": "SmearedPowerLaw", "smearing": self.smearing,
                        "exponent": self.exponent},
            "basis": {"type": "TensorProduct", "max_angular": self.max_angular,
                      "radial": {"type": "Gto", "max_radial": self.max_radial,
                                 "radius": self.radius}},
        }


@dataclass(frozen=True, kw_only=True)
class DescriptorSettings(LayerSettings):
    """Settings of the descriptor: the element list plus the layer settings.

    Parameters
    ----------
    elements : sequence of str
        The campaign's elements; fixes the feature space.
    chunk_size : int
        Orderings described at once (bounds memory).
    **layer settings
        ``bond_factor``, ``bulk_coordination``, ``intermediate_layers``,
        ``surface_method``, ``site_bins`` (see :class:`LayerSettings`).
    """

    elements: tuple[str, ...]
    chunk_size: int = 4096
    blocks: tuple[str, ...] = tuple(schema_default("descriptors", "blocks"))
    local: LocalSettings = LocalSettings()
    long_range: LongRangeSettings = LongRangeSettings()

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "elements", tuple(self.elements))
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.blocks or self.blocks[0] != "layers" or not set(self.blocks) <= set(BLOCKS):
            raise ValueError(f"blocks must start with layers and name only {BLOCKS}, "
                             f"got {self.blocks}")
        if len(set(self.elements)) != len(self.elements) or not self.elements:
            raise ValueError(f"elements must be unique and non-empty, got {self.elements}")

    @classmethod
    def from_config(cls, elements, section=None) -> DescriptorSettings:
        """Settings from a campaign's element list and its ``descriptors`` config section
        (missing keys take the schema's defaults)."""
        section = section_with_defaults("descriptors", section)
        return cls(
            elements=tuple(elements),
            bond_factor=section["bond_factor"],
            bulk_coordination=section["bulk_coordination"],
            intermediate_layers=section["intermediate_layers"],
            surface_method=section["surface_method"],
            neighbour_counts=section["neighbour_counts"],
            blocks=tuple(section["blocks"]),
            local=LocalSettings(**section["local"]),
            long_range=LongRangeSettings(**section["long_range"]),
        )

    @property
    def environments(self) -> tuple:
        """Settings of the atomic-environment blocks in use (local, long_range), in order."""
        return tuple(getattr(self, b) for b in self.blocks if b != "layers")

    @property
    def borders(self) -> tuple[str, ...]:
        """Names of the borders between consecutive regions, e.g. ``surface-intermediate``."""
        regions = self.region_names
        return tuple(f"{a}-{b}" for a, b in zip(regions, regions[1:], strict=False))


@dataclass(frozen=True)
class HullSettings(_Section):
    """The ``hull`` section (see :mod:`strata.hull`).

    Parameters
    ----------
    enabled : bool
        Pure particles, mixing energies and the hull every round.
    settled : float
        A composition none of whose candidates has this chance of lowering the hull gets no
        reference calls (:func:`strata.rounds.hull_weights`).
    """

    SECTION = "hull"
    enabled: bool
    settled: float


@dataclass(frozen=True)
class CampaignSettings:
    """Every section of a validated campaign config, built once.

    ``descriptors`` is a :class:`DescriptorSettings`; ``reference`` holds
    the settings that decide a reference result (:func:`strata.calculators.calculator_settings`)
    and ``resources`` how it is run.
    """

    elements: tuple
    rounds: int
    initial_size: int
    initial_motifs: tuple
    initial_every: int
    batch_size: int
    pool_size: int
    seed: int
    ground_truth_energy: float | None
    descriptors: object
    model: ModelSettings
    search: SearchSettings
    selection: SelectionSettings
    report: ReportSettings
    hull: HullSettings
    reference: MappingProxyType
    resources: MappingProxyType

    @classmethod
    def from_config(cls, config):
        """Settings of a config that :func:`strata.config.validate` has completed."""
        from strata.calculators import calculator_settings

        return cls(
            elements=tuple(config["elements"]),
            rounds=config["rounds"],
            initial_size=config["initial_size"],
            initial_motifs=tuple(config["initial_motifs"]),
            initial_every=config["initial_every"],
            batch_size=config["batch_size"],
            pool_size=config["pool_size"],
            seed=config["seed"],
            ground_truth_energy=config["ground_truth_energy"],
            descriptors=DescriptorSettings.from_config(config["elements"], config["descriptors"]),
            model=ModelSettings.from_config(config["model"]),
            search=SearchSettings.from_config(config["search"]),
            selection=SelectionSettings.from_config(config["selection"]),
            report=ReportSettings.from_config(config["report"]),
            hull=HullSettings.from_config(config["hull"]),
            reference=_frozen(calculator_settings(config["reference"])),
            resources=_frozen(config["reference"]["resources"]),
        )

    def reference_dict(self):
        """The reference settings as a plain dict (what the calculation store is keyed by)."""
        return _plain(self.reference)
