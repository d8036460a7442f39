"""The extrapolating linear prior of the surrogate: a ridge regression on the descriptor.

Tree ensembles cannot extrapolate: beyond the best labelled structure every candidate falls
in the same leaves. The prior is a ridge regression of the within-group energy on the
standardised descriptor; its (negated, scaled) prediction is the score the trees boost from
(:mod:`strata.ranking`). Which columns it uses (``model.prior_features`` and
``model.prior_blocks``) and how much each
descriptor block may count (``model.region_weights``: a block's standardised columns are
multiplied by its weight, so its ridge penalty is divided by the weight squared; weight 0
leaves the block out) are the two ways a user shapes it.
"""

import re
from dataclasses import dataclass

import numpy as np

from strata.descriptors import region_of_feature
from strata.environments import block_of_feature

LINEAR_FEATURE = re.compile(r"(^|\.)(frac|bonds|nb2)\.|(^|\.)count(\.|$)")


def prior_columns(names, which="all"):
    """Indices of the descriptor columns the linear prior uses.

    ``"linear"``: only the features that are linear in cluster functions of the site
    occupations on a fixed template — element fractions per region and per surface site class,
    bond-pair counts and fractions, atom counts (the point and pair terms of a cluster
    expansion), and, with ``descriptors.neighbour_counts``, the squared unlike-neighbour
    counts of A sites per site group (``.nb2.`` columns: three-site terms, the lowest
    many-body term of an embedding energy, which pair terms miss) — i.e. what a cluster
    expansion of an alloy particle is. Mean coordinations, Warren–Cowley parameters,
    entropies and bond-length statistics (ratios or nonlinear) are left to the trees. Falls
    back to every column when no name matches.
    """
    if which == "all":
        return np.arange(len(names))
    keep = np.array([k for k, name in enumerate(names) if LINEAR_FEATURE.search(str(name))],
                    dtype=int)
    return keep if len(keep) else np.arange(len(names))


def prior_design(names, settings):
    """Columns of the prior and their block weights, from the ``model`` settings.

    Parameters
    ----------
    names : list[str]
        Descriptor column names.
    settings : strata.settings.ModelSettings

    Returns
    -------
    columns : numpy.ndarray of int or None
        Columns used (None: every column).
    scales : numpy.ndarray or None
        Weight of each used column (None: all 1).
    """
    columns = None
    if settings.prior_features == "linear":
        columns = prior_columns(names, "linear")
    blocks = [block_of_feature(str(name)) for name in names]
    if any(b not in settings.prior_blocks for b in blocks):
        used = np.arange(len(names)) if columns is None else columns
        columns = np.array([k for k in used if blocks[k] in settings.prior_blocks], dtype=int)
        if not len(columns):
            raise ValueError(f"model.prior_blocks {list(settings.prior_blocks)} names no "
                             "descriptor block in use (descriptors.blocks)")
    weights = {block: settings.region_weight(block) for block in settings.region_weights}
    if all(w == 1.0 for w in weights.values()):
        return columns, None
    used = np.arange(len(names)) if columns is None else columns
    scales = np.array([settings.region_weight(region_of_feature(str(names[k]))) for k in used])
    keep = scales > 0
    if not keep.any():
        raise ValueError("model.region_weights: every block of the prior has weight 0")
    return used[keep], scales[keep]


def group_centred(values, groups):
    """Subtract the group mean from each row of ``values``."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    for g in np.unique(groups):
        rows = groups == g
        out[rows] -= values[rows].mean(axis=0)
    return out


@dataclass
class LinearPrior:
    """Ridge regression of the within-group energy on standardised features.

    ``score(X)`` is ``-weight · Ê(X) / scale`` with ``scale`` the within-group energy spread:
    higher = lower predicted energy, in the same units whatever the energy unit.
    """

    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    scale: float
    weight: float
    alpha: float = 1.0
    columns: np.ndarray | None = None  # descriptor columns used (None: all)
    scales: np.ndarray | None = None  # block weight of each used column (None: all 1)

    @classmethod
    def fit(cls, X, energy, groups, weight, columns=None, scales=None):
        """Fit with the regularisation chosen by generalised cross-validation.

        ``columns``: the descriptor columns used (default: all); ``scales``: the weight of
        each used column (:func:`prior_design`).
        """
        from sklearn.linear_model import RidgeCV

        X = np.asarray(X, dtype=float)
        if columns is not None:
            X = X[:, columns]
        mean = np.nanmean(X, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        X = np.where(np.isnan(X), mean, X)
        std = X.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        if scales is not None:
            std = std / scales
        Z = group_centred((X - mean) / std, groups)
        y = group_centred(energy, groups)
        scale = float(y.std()) if y.std() > 0 else 1.0
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13), fit_intercept=False).fit(Z, y / scale)
        return cls(mean=mean, std=std, coef=ridge.coef_.astype(float), scale=scale,
                   weight=float(weight), alpha=float(ridge.alpha_),
                   columns=None if columns is None else np.asarray(columns, dtype=int),
                   scales=None if scales is None else np.asarray(scales, dtype=float))

    def _used(self, X):
        X = np.asarray(X, dtype=float)
        used = X[:, self.columns] if self.columns is not None else X
        return np.where(np.isnan(used), self.mean, used)

    def score(self, X):
        """Prior score (higher = more stable).

        A row's score does not depend on the other rows it is scored with (a row-wise sum,
        not a matrix product whose blocking follows the batch size): the search scores each
        ordering once, in batches of every size, and the pool keeps those scores.
        """
        terms = np.ascontiguousarray(((self._used(X) - self.mean) / self.std) * self.coef)
        return -self.weight * terms.sum(axis=1)  # C order: one summation order per row

    def contributions(self, X):
        """Exact linear SHAP values of :meth:`score`: one per row and descriptor column
        (zero for columns the prior does not use), relative to the rows' mean score."""
        X = np.asarray(X, dtype=float)
        used = self._used(X)
        terms = -self.weight * self.coef / self.std * (used - used.mean(axis=0))
        if self.columns is None:
            return terms
        values = np.zeros_like(X)
        values[:, self.columns] = terms
        return values

    def to_dict(self):
        """JSON-ready parameters."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "coef": self.coef.tolist(),
                "scale": self.scale, "weight": self.weight, "alpha": self.alpha,
                "columns": None if self.columns is None else self.columns.tolist(),
                "scales": None if self.scales is None else self.scales.tolist()}

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`."""
        def array(key):
            return None if data.get(key) is None else np.array(data[key])

        return cls(mean=np.array(data["mean"]), std=np.array(data["std"]),
                   coef=np.array(data["coef"]), scale=data["scale"], weight=data["weight"],
                   alpha=data.get("alpha", 1.0), columns=array("columns"),
                   scales=array("scales"))
