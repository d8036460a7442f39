"""What the surrogate of a round has learnt: SHAP values, SHAP mass per region, ablation and
the layer-weight table. Computation only; :mod:`strata.report` renders the tables.

* SHAP values explain the *whole* score of :class:`strata.ranking.Surrogate`: the ridge prior
  (exact linear SHAP values, :meth:`strata.prior.LinearPrior.contributions`) plus the LightGBM
  trees (``shap.TreeExplainer``). The two parts and the expected value add up to the score the
  campaign ranks with.
* The region ablation cross-validates the model with the columns of one descriptor block
  removed (trees and prior both lose them), or with only one region kept.
* The layer-weight table cross-validates the model under each weighting of
  ``report.weighting_schemes`` (``model.region_weights`` replaced by the scheme: a block's
  standardised prior columns scaled by its weight), next to the configured weights.

Every function takes typed settings and tables and returns :class:`pandas.DataFrame` objects
with plain columns, ready to be written as CSV (:func:`explain_round`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from strata import evaluation
from strata.descriptors import BLOCKS, region_of_feature
from strata.files import feature_columns
from strata.prior import prior_design

#: columns of the SHAP table before the one column per feature
SHAP_INFO = ["structure_id", "composition", "score", "expected_value"]
#: regions of the "only <region>" ablation rows
LAYER_REGIONS = ("surface", "intermediate", "core")
FOLDS = 5


# ----------------------------------------------------------------------------- SHAP

@dataclass(frozen=True)
class ShapValues:
    """SHAP values of the surrogate's score on some rows, split by part.

    Attributes
    ----------
    prior, trees : numpy.ndarray
        ``(rows, features)`` SHAP values of the ridge prior and of the trees (zeros for a part
        the model lacks).
    expected : float
        Expected value: ``score = expected + (prior + trees).sum(axis=1)`` on every row.
    """

    prior: np.ndarray
    trees: np.ndarray
    expected: float

    @property
    def total(self):
        """SHAP values of the whole score."""
        return self.prior + self.trees


def shap_values(surrogate, X):
    """SHAP values of the surrogate's score (ridge prior + trees) on rows ``X``.

    Parameters
    ----------
    surrogate : strata.ranking.Surrogate
    X : numpy.ndarray
        ``(rows, features)`` in the order of ``surrogate.feature_names``.

    Returns
    -------
    ShapValues
        The prior's values are relative to the mean prior score of ``X``; the trees' to the
        TreeExplainer's expected value (the booster's mean output on its training data).
    """
    X = np.asarray(X, dtype=float)
    prior, trees, expected = np.zeros_like(X), np.zeros_like(X), 0.0
    if surrogate.main.prior is not None:
        prior = surrogate.main.prior.contributions(X)
        expected += float(np.mean(surrogate.main.prior.score(X))) if len(X) else 0.0
    if surrogate.main.booster is not None:
        import shap

        explainer = shap.TreeExplainer(surrogate.main.booster)
        trees = np.asarray(explainer.shap_values(X), dtype=float).reshape(X.shape)
        expected += float(np.ravel(explainer.expected_value)[0])
    return ShapValues(prior=prior, trees=trees, expected=expected)


def explained_rows(labelled, max_samples, seed):
    """The labelled rows SHAP explains: finite energy, at most ``max_samples`` drawn at random
    (``seed``), in table order."""
    ok = labelled[np.isfinite(labelled["energy"])]
    if len(ok) > max_samples:
        rows = np.random.default_rng(seed).choice(len(ok), max_samples, replace=False)
        ok = ok.iloc[np.sort(rows)]
    return ok


def shap_table(surrogate, rows):
    """Per-structure SHAP values of the explained rows, and the SHAP values by part.

    Parameters
    ----------
    surrogate : strata.ranking.Surrogate
    rows : pandas.DataFrame
        Labelled rows (:func:`explained_rows`) with the model's columns.

    Returns
    -------
    table : pandas.DataFrame
        :data:`SHAP_INFO` columns (``score``: the model's score of the row), then one column
        per feature of the model (SHAP values, score units).
    values : ShapValues
    """
    names = list(surrogate.feature_names)
    X = rows[names].to_numpy(dtype=float)
    values = shap_values(surrogate, X)
    info = pd.DataFrame({"structure_id": rows["structure_id"].to_numpy(),
                         "composition": rows["composition"].to_numpy(),
                         "score": surrogate.score(X), "expected_value": values.expected})
    return pd.concat([info, pd.DataFrame(values.total, columns=names)], axis=1), values


def shap_columns(table):
    """The feature columns of a SHAP table (everything but :data:`SHAP_INFO`)."""
    return [c for c in table.columns if c not in SHAP_INFO]


def mean_abs_shap(values):
    """Mean |SHAP| per feature of a table of SHAP values, largest first."""
    return values.abs().mean().sort_values(ascending=False)


def region_shap(values, parts=None):
    """Mean |SHAP| summed over the features of each region, and its share of the total.

    Parameters
    ----------
    values : pandas.DataFrame
        SHAP values, one column per feature.
    parts : ShapValues, optional
        When given, the mean |SHAP| of the prior and of the trees per region are added.

    Returns
    -------
    pandas.DataFrame
        One row per block of :data:`strata.descriptors.BLOCKS` present, in that order:
        ``region``, ``mean_abs_shap``, ``share``, ``features`` (and ``prior``, ``trees``).
    """
    region = [region_of_feature(c) for c in values.columns]
    columns = {"mean_abs_shap": values.abs().mean().to_numpy()}
    if parts is not None:
        columns["prior"] = np.abs(parts.prior).mean(axis=0)
        columns["trees"] = np.abs(parts.trees).mean(axis=0)
    per_feature = pd.DataFrame(columns, index=values.columns).fillna(0.0)
    table = per_feature.groupby(region).sum()
    table["features"] = per_feature.groupby(region).size()
    table = table.reindex([b for b in BLOCKS if b in table.index])
    total = table["mean_abs_shap"].sum()
    table["share"] = table["mean_abs_shap"] / total if total > 0 else np.nan
    parts_columns = ["prior", "trees"] if parts is not None else []
    order = ["mean_abs_shap", "share", "features", *parts_columns]
    return table[order].rename_axis("region").reset_index()


# ----------------------------------------------------------------------------- cross-validation

def block_columns(columns):
    """Descriptor columns grouped by block, blocks in :data:`BLOCKS` order (present only)."""
    blocks = {b: [] for b in BLOCKS}
    for name in columns:
        blocks[region_of_feature(name)].append(name)
    return {b: names for b, names in blocks.items() if names}


def without_blocks(labelled, blocks):
    """The labelled table without the descriptor columns of ``blocks`` (labels kept)."""
    drop = [c for c in feature_columns(labelled) if region_of_feature(c) in set(blocks)]
    return labelled.drop(columns=drop)


def cv_settings(settings, names):
    """The model settings a cross-validation fits on columns ``names``: no prior when the
    region weights leave none of ``names`` in it (every remaining block has weight 0).

    Without a prior the region weights change nothing, so they are reset to 1.
    """
    if settings.prior == "ridge":
        try:
            prior_design(list(names), settings)
        except ValueError:
            settings = settings.replace(prior="none", region_weights={})
    return settings


class CrossValidation:
    """Cross-validated metrics of model variants on one labelled table, each variant once.

    Parameters
    ----------
    labelled : pandas.DataFrame
    seed, k : int
        As :func:`strata.evaluation.cross_validated_metrics` (``k``: recall@k, regret@k).
    folds : int
    """

    def __init__(self, labelled, seed, k, folds=FOLDS):
        self.labelled, self.seed, self.k, self.folds = labelled, seed, k, folds
        self._done = {}

    def __call__(self, settings, drop=()):
        """Metrics (``spearman``, ``kendall``, ``recall@k``, ``regret@k``) of the model with
        ``settings`` on the table without blocks ``drop``; {} when too few labels."""
        table = without_blocks(self.labelled, drop)
        settings = cv_settings(settings, feature_columns(table))
        key = (json.dumps(settings.to_dict(), sort_keys=True), tuple(sorted(drop)))
        if key not in self._done:
            figures = evaluation.cross_validated_metrics(table, settings, self.seed, self.k,
                                                         folds=self.folds)
            self._done[key] = {name.removeprefix("cv."): v for name, v in figures.items()}
        return self._done[key]


def ablation_table(cv, settings):
    """Cross-validated metrics with each block removed, and with only one region kept.

    Parameters
    ----------
    cv : CrossValidation
    settings : strata.settings.ModelSettings
        The configured model (its region weights stay).

    Returns
    -------
    pandas.DataFrame
        ``variant`` (``all blocks``, ``without <block>``, ``only <region>``), ``removed``
        (blocks removed, ``+``-separated), ``features`` (columns left), then the metrics;
        only ``variant`` and ``features`` columns when there are too few labels.
    """
    blocks = block_columns(feature_columns(cv.labelled))
    variants = [("all blocks", ())]
    variants += [(f"without {b}", (b,)) for b in blocks]
    variants += [(f"only {r}", tuple(b for b in blocks if b != r))
                 for r in LAYER_REGIONS if r in blocks]
    rows = []
    for name, drop in variants:
        n_features = sum(len(columns) for b, columns in blocks.items() if b not in drop)
        if n_features == 0:
            continue
        figures = cv(settings, drop)
        if not figures:
            return pd.DataFrame(columns=["variant", "features"])
        rows.append({"variant": name, "removed": "+".join(drop), "features": n_features,
                     **figures})
    return pd.DataFrame(rows)


def weighting_table(cv, settings, schemes):
    """Cross-validated metrics of the model under each weighting scheme of the prior.

    Each scheme replaces ``model.region_weights`` (missing blocks weigh 1) and the model is
    refitted in every fold, so the figures show what the weights do to the ranking.

    Parameters
    ----------
    cv : CrossValidation
    settings : strata.settings.ModelSettings
        The configured model: its row is ``configured``.
    schemes : mapping
        Scheme name → block weights (``report.weighting_schemes``).

    Returns
    -------
    pandas.DataFrame
        ``variant``, one weight column per block of :data:`BLOCKS`, ``prior`` (``ridge`` or
        ``none`` when the weights leave no column in it), then the metrics; only ``variant``
        and the weights when there are too few labels.
    """
    variants = [("configured", settings)]
    variants += [(f"scheme: {name}", settings.replace(region_weights=dict(weights)))
                 for name, weights in schemes.items()]
    names = feature_columns(cv.labelled)
    rows = []
    for name, variant in variants:
        figures = cv(variant)
        if not figures:
            return pd.DataFrame(columns=["variant", *BLOCKS])
        rows.append({"variant": name, **{b: variant.region_weight(b) for b in BLOCKS},
                     "prior": cv_settings(variant, names).prior, **figures})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- prototypes

#: columns of the prototype table
PROTOTYPE_COLUMNS = ["prototype", "region", "feature", "mean_abs_shap", "direction",
                     "mean_share", "centre", "structure_id", "atom", "atoms"]


def prototype_table(prototypes, shap, labelled, elements):
    """What each prototype environment does to the score, per region.

    Parameters
    ----------
    prototypes : strata.prototypes.Prototypes or None
    shap : pandas.DataFrame
        :func:`shap_table` of the round (its rows are labelled structures).
    labelled : pandas.DataFrame
        The labelled table with the prototype columns.
    elements : sequence of str

    Returns
    -------
    pandas.DataFrame
        One row per ``<region>.prototypes.p<p>`` feature, largest mean |SHAP| first:
        ``direction`` is the sign of the correlation of the feature with its SHAP values
        (+1: more of the region's atoms like this prototype → higher score, i.e. predicted
        more stable; 0 when the feature does not vary), ``mean_share`` its mean over the
        labelled structures; ``centre``, ``structure_id``, ``atom`` and ``atoms`` describe the
        prototype's exemplar (:attr:`strata.prototypes.Prototypes.exemplars`).
    """
    if prototypes is None:
        return pd.DataFrame(columns=PROTOTYPE_COLUMNS)
    values = labelled.set_index(labelled["structure_id"].astype(str)).loc[
        shap["structure_id"].astype(str)]
    rows = []
    for name in prototypes.names:
        region, _, label = name.split(".")
        p = int(label[1:])
        x, v = values[name].to_numpy(float), shap[name].to_numpy(float)
        spread = x.std() > 1e-12 and v.std() > 1e-12
        direction = int(np.sign(np.corrcoef(x, v)[0, 1])) if spread else 0
        exemplar = prototypes.exemplars[p]
        rows.append({"prototype": p, "region": region, "feature": name,
                     "mean_abs_shap": float(np.abs(v).mean()), "direction": direction,
                     "mean_share": float(labelled[name].mean()),
                     "centre": elements[exemplar["centre"]],
                     "structure_id": exemplar["structure_id"], "atom": exemplar["atom"],
                     "atoms": exemplar["atoms"]})
    table = pd.DataFrame(rows, columns=PROTOTYPE_COLUMNS)
    return table.sort_values("mean_abs_shap", ascending=False, kind="stable").reset_index(
        drop=True)


# ----------------------------------------------------------------------------- entry point

def explain_round(labelled, surrogate, model_settings, report_settings, seed, k):
    """Every explanation table of one round's model.

    Parameters
    ----------
    labelled : pandas.DataFrame
        Every labelled structure the model was trained on (rounds ``0 … r``).
    surrogate : strata.ranking.Surrogate
        The model of the round.
    model_settings : strata.settings.ModelSettings
        The ``model`` section the surrogate was trained with.
    report_settings : strata.settings.ReportSettings
        ``shap_samples``, ``ablation`` (whether to cross-validate), ``weighting_schemes``.
    seed : int
        Draws the explained rows and the folds.
    k : int
        recall@k and regret@k of the cross-validation (the batch size).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``shap`` (:func:`shap_table`), ``regions`` (:func:`region_shap`), ``ablation``
        (:func:`ablation_table`) and ``weighting`` (:func:`weighting_table`); the last two
        have no rows when ``report_settings.ablation`` is off or labels are too few.
    """
    rows = explained_rows(labelled, report_settings.shap_samples, seed)
    shap, parts = shap_table(surrogate, rows)
    tables = {"shap": shap, "regions": region_shap(shap[shap_columns(shap)], parts)}
    tables["ablation"] = pd.DataFrame(columns=["variant", "features"])
    tables["weighting"] = pd.DataFrame(columns=["variant", *BLOCKS])
    if report_settings.ablation:
        cv = CrossValidation(labelled, seed, k)
        tables["ablation"] = ablation_table(cv, model_settings)
        tables["weighting"] = weighting_table(cv, model_settings,
                                              report_settings.weighting_schemes)
    return tables
