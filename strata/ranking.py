"""Relevance labels, query groups and the LightGBM surrogates (LambdaRank and regression).

The surrogate ranks orderings within a query group (one composition, and one template when a
campaign mixes shapes). Its score is "higher = predicted more stable".

Tree ensembles cannot extrapolate: beyond the best labelled structure every candidate falls in
the same leaves and hundreds tie at the top score. The ground state of a campaign always lies
beyond the labelled range, so the surrogate adds an extrapolating linear prior: a ridge
regression of the within-group energy on the standardised descriptor, fitted first; its
(negated, scaled) prediction is the ``init_score`` the LightGBM model boosts from, and it is
added back to the trees' output when scoring. The trees then learn the non-linear corrections
to the ranking, and the prior keeps the order beyond the labelled range. ``prior_weight = 0``
gives the plain tree model. An optional bootstrap ensemble provides an uncertainty.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

MAX_LEVELS = 31  # length of LightGBM's default label_gain

MODEL_DEFAULTS = {
    "kind": "ranker",  # "ranker" (LGBMRanker, lambdarank) or "regressor" (sort predictions)
    "levels": 31,  # relevance levels (within-group energy quantiles), <= 31
    "label_gain": "exponential",  # "exponential" (2^l - 1, LightGBM default) or "linear"
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "max_depth": -1,
    "min_child_samples": 3,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "linear_tree": False,  # LightGBM linear trees (piecewise-linear leaves)
    "prior": "ridge",  # linear prior the trees boost from: "ridge" or "none"
    "prior_weight": 4.0,  # scale of the prior score (in units of within-group energy std)
    "prior_features": "all",  # columns of the prior: "all" or "linear" (see prior_columns)
    "ensemble_size": 5,  # bootstrap members for the uncertainty (0: no uncertainty)
    "group_by_template": "auto",  # query groups include the template: true/false/"auto"
}


def model_settings(model_config=None):
    """The ``model`` section with defaults filled in (unknown keys raise ``KeyError``)."""
    settings = dict(MODEL_DEFAULTS)
    for key, value in (model_config or {}).items():
        if key not in MODEL_DEFAULTS:
            raise KeyError(f"model.{key}: unknown key; known: {', '.join(MODEL_DEFAULTS)}")
        settings[key] = value
    if settings["kind"] not in ("ranker", "regressor"):
        raise ValueError(f"model.kind must be 'ranker' or 'regressor', got {settings['kind']!r}")
    if not 2 <= int(settings["levels"]) <= MAX_LEVELS:
        raise ValueError(f"model.levels must be within 2..{MAX_LEVELS}, got {settings['levels']}")
    if settings["prior"] not in ("ridge", "none"):
        raise ValueError(f"model.prior must be 'ridge' or 'none', got {settings['prior']!r}")
    if settings["prior_features"] not in ("all", "linear"):
        raise ValueError("model.prior_features must be 'all' or 'linear', "
                         f"got {settings['prior_features']!r}")
    return settings


# ----------------------------------------------------------------------------- groups, labels

def query_groups(compositions, templates=None, by_template="auto"):
    """Query-group id of each structure: composition, and template when shapes are mixed.

    Parameters
    ----------
    compositions : array_like of str
        Composition key per structure.
    templates : array_like of int, optional
        Template index per structure.
    by_template : bool or "auto"
        Include the template in the group; ``"auto"``: when more than one template occurs.

    Returns
    -------
    numpy.ndarray of int
        Group ids numbered in order of first appearance.
    """
    compositions = np.asarray(compositions, dtype=object).astype(str)
    if templates is None:
        by_template = False
    elif by_template == "auto":
        by_template = len(np.unique(np.asarray(templates))) > 1
    if by_template:
        names = [f"{c}|{int(t)}" for c, t in zip(compositions, templates, strict=True)]
    else:
        names = list(compositions)
    ids = {}
    return np.array([ids.setdefault(name, len(ids)) for name in names], dtype=int)


def relevance_labels(energy, groups, levels=MAX_LEVELS):
    """Relevance labels: within-group energy quantiles, lowest energy highest.

    Parameters
    ----------
    energy : array_like of float
    groups : array_like
        Group id per structure.
    levels : int
        At most this many levels (``<= 31``); a group of ``n`` structures uses
        ``min(levels, n)``, so its lowest energy always gets ``min(levels, n) - 1``.

    Returns
    -------
    numpy.ndarray of int
        Labels in ``0 .. levels - 1``; ties in energy share a label.
    """
    energy = np.asarray(energy, dtype=float)
    groups = np.asarray(groups)
    if levels > MAX_LEVELS:
        raise ValueError(f"at most {MAX_LEVELS} relevance levels, got {levels}")
    if np.isnan(energy).any():
        raise ValueError("relevance labels need finite energies (drop failed structures first)")
    labels = np.zeros(len(energy), dtype=int)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        n_levels = min(levels, len(rows))
        # rank of the energy among distinct values, lowest = 0; ties share a rank
        rank = pd.Series(energy[rows]).rank(method="min").to_numpy() - 1
        quantile = rank / len(rows)
        labels[rows] = n_levels - 1 - np.floor(quantile * n_levels).astype(int)
    return labels


LINEAR_FEATURE = re.compile(r"(^|\.)(frac|bonds)\.|(^|\.)count(\.|$)")


def prior_columns(names, which="all"):
    """Indices of the descriptor columns the linear prior uses.

    ``"linear"``: only the features that are linear in the site occupations on a fixed
    template — element fractions per region and per surface site class, bond-pair counts and
    fractions, atom counts — i.e. the point and pair terms of a cluster expansion, which is
    what a linear energy model of an alloy particle is. Mean coordinations, Warren–Cowley
    parameters, entropies and bond-length statistics (ratios or nonlinear) are left to the
    trees. Falls back to every column when no name matches.
    """
    if which == "all":
        return np.arange(len(names))
    keep = np.array([k for k, name in enumerate(names) if LINEAR_FEATURE.search(str(name))],
                    dtype=int)
    return keep if len(keep) else np.arange(len(names))


def _group_centred(values, groups):
    """Subtract the group mean from each row of ``values``."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    for g in np.unique(groups):
        rows = groups == g
        out[rows] -= values[rows].mean(axis=0)
    return out


# ----------------------------------------------------------------------------- linear prior

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

    @classmethod
    def fit(cls, X, energy, groups, weight, columns=None):
        """Fit with the regularisation chosen by generalised cross-validation.

        ``columns``: the descriptor columns used (default: all).
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
        Z = _group_centred((X - mean) / std, groups)
        y = _group_centred(energy, groups)
        scale = float(y.std()) if y.std() > 0 else 1.0
        ridge = RidgeCV(alphas=np.logspace(-3, 3, 13), fit_intercept=False).fit(Z, y / scale)
        return cls(mean=mean, std=std, coef=ridge.coef_.astype(float), scale=scale,
                   weight=float(weight), alpha=float(ridge.alpha_),
                   columns=None if columns is None else np.asarray(columns, dtype=int))

    def score(self, X):
        """Prior score (higher = more stable)."""
        X = np.asarray(X, dtype=float)
        if self.columns is not None:
            X = X[:, self.columns]
        X = np.where(np.isnan(X), self.mean, X)
        return -self.weight * (((X - self.mean) / self.std) @ self.coef)

    def contributions(self, X):
        """Exact linear SHAP values of :meth:`score`: one per row and descriptor column
        (zero for columns the prior does not use), relative to the rows' mean score."""
        X = np.asarray(X, dtype=float)
        used = X[:, self.columns] if self.columns is not None else X
        used = np.where(np.isnan(used), self.mean, used)
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
                "columns": None if self.columns is None else self.columns.tolist()}

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict`."""
        return cls(mean=np.array(data["mean"]), std=np.array(data["std"]),
                   coef=np.array(data["coef"]), scale=data["scale"], weight=data["weight"],
                   alpha=data.get("alpha", 1.0),
                   columns=None if data.get("columns") is None else np.array(data["columns"]))


# ----------------------------------------------------------------------------- one model

@dataclass
class _Member:
    """One LightGBM booster and its linear prior."""

    booster: lgb.Booster | None
    prior: LinearPrior | None

    def score(self, X):
        score = np.zeros(len(X))
        if self.prior is not None:
            score += self.prior.score(X)
        if self.booster is not None:
            score += self.booster.predict(X, num_threads=1)
        return score


def _lgb_params(settings, seed, n_rows):
    """LightGBM parameters of the ``model`` section."""
    params = {
        "learning_rate": settings["learning_rate"],
        "num_leaves": int(settings["num_leaves"]),
        "max_depth": int(settings["max_depth"]),
        "min_data_in_leaf": int(min(settings["min_child_samples"], max(1, n_rows // 2))),
        "min_sum_hessian_in_leaf": 1e-6,
        "bagging_fraction": settings["subsample"],
        "bagging_freq": 1 if settings["subsample"] < 1 else 0,
        "feature_fraction": settings["colsample_bytree"],
        "lambda_l2": settings["reg_lambda"],
        "linear_tree": bool(settings["linear_tree"]),
        "min_data_in_bin": 1,
        "verbosity": -1,
        "seed": int(seed),
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
    }
    if settings["kind"] == "ranker":
        levels = int(settings["levels"])
        gain = (np.arange(levels) if settings["label_gain"] == "linear"
                else 2.0 ** np.arange(levels) - 1)
        params.update(objective="lambdarank", label_gain=gain.tolist(),
                      lambdarank_truncation_level=max(30, n_rows), metric="None")
    else:
        params.update(objective="regression", metric="None")
    return params


def _fit_member(X, energy, groups, settings, seed, columns=None):
    """Fit the prior (on ``columns`` of ``X``) and the booster on one (re)sample."""
    prior = None
    if settings["prior"] == "ridge" and settings["prior_weight"] > 0 and len(X) >= 3:
        prior = LinearPrior.fit(X, energy, groups, settings["prior_weight"], columns)
    init = prior.score(X) if prior is not None else np.zeros(len(X))
    if len(X) < 4 or int(settings["n_estimators"]) == 0:
        return _Member(None, prior)
    order = np.argsort(groups, kind="stable")  # lambdarank wants contiguous groups
    X, energy, groups, init = X[order], energy[order], groups[order], init[order]
    if settings["kind"] == "ranker":
        label = relevance_labels(energy, groups, int(settings["levels"]))
        _, group_sizes = np.unique(groups, return_counts=True)
        data = lgb.Dataset(X, label=label, group=group_sizes, init_score=init,
                           free_raw_data=False)
    else:
        centred = _group_centred(energy, groups)
        scale = prior.scale if prior is not None else (centred.std() or 1.0)
        target = -centred / scale * max(settings["prior_weight"], 1.0)
        data = lgb.Dataset(X, label=target, init_score=init, free_raw_data=False)
    params = _lgb_params(settings, seed, len(X))
    booster = lgb.train(params, data, num_boost_round=int(settings["n_estimators"]))
    return _Member(booster, prior)


# ----------------------------------------------------------------------------- surrogate

@dataclass
class Surrogate:
    """A fitted surrogate: ``score`` (higher = predicted more stable) and ``uncertainty``.

    Attributes
    ----------
    feature_names : list[str]
        Columns the model was trained on (``score`` reorders a DataFrame to them).
    settings : dict
        The ``model`` section with defaults.
    main : _Member
        Trained on all labelled structures; gives the score.
    members : list[_Member]
        Bootstrap members; the spread of their scores is the uncertainty.
    info : dict
        Training facts (rows, groups, seed, prior alpha).
    """

    feature_names: list
    settings: dict
    main: _Member
    members: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def _matrix(self, features):
        if isinstance(features, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in features.columns]
            if missing:
                raise KeyError(f"features lack the model's columns {missing[:5]}...")
            return features[self.feature_names].to_numpy(dtype=float)
        X = np.asarray(features, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"expected {len(self.feature_names)} feature columns, got {X.shape}")
        return X

    def score(self, features):
        """Predicted stability score per row (higher = more stable)."""
        return self.main.score(self._matrix(features))

    def uncertainty(self, features):
        """Spread (standard deviation) of the bootstrap members' scores; zeros without."""
        X = self._matrix(features)
        if len(self.members) < 2:
            return np.zeros(len(X))
        return np.std([m.score(X) for m in self.members], axis=0)

    def save(self, path):
        """Write ``path.txt`` (LightGBM text model of the main booster) and ``path.json``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.with_suffix(".txt")
        if self.main.booster is not None:
            self.main.booster.save_model(str(text))
        else:
            text.write_text("# no booster: too few labelled structures; prior only\n")
        sidecar = {
            "format": "strata-surrogate-1",
            "feature_names": list(self.feature_names),
            "settings": self.settings,
            "info": self.info,
            "prior": self.main.prior.to_dict() if self.main.prior else None,
            "members": [
                {"booster": m.booster.model_to_string() if m.booster is not None else None,
                 "prior": m.prior.to_dict() if m.prior else None}
                for m in self.members
            ],
        }
        path.with_suffix(".json").write_text(json.dumps(sidecar))


def load_surrogate(path):
    """Load a surrogate written by :meth:`Surrogate.save` (``path`` with or without suffix)."""
    path = Path(path)
    if path.suffix in (".txt", ".json"):
        path = path.with_suffix("")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    text = path.with_suffix(".txt")
    booster = None
    if not text.read_text().startswith("# no booster"):
        booster = lgb.Booster(model_file=str(text))

    def prior(data):
        return LinearPrior.from_dict(data) if data else None

    members = [
        _Member(lgb.Booster(model_str=m["booster"]) if m["booster"] else None, prior(m["prior"]))
        for m in sidecar["members"]
    ]
    return Surrogate(feature_names=sidecar["feature_names"], settings=sidecar["settings"],
                     main=_Member(booster, prior(sidecar["prior"])), members=members,
                     info=sidecar["info"])


def fit_surrogate(features, energy, groups, model_config=None, seed=0):
    """Train the surrogate of one round.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per labelled structure, named descriptor columns.
    energy : array_like of float
        Reference energy per row; NaN rows (failed calculations) are left out.
    groups : array_like
        Query group per row (see :func:`query_groups`).
    model_config : dict, optional
        The campaign's ``model`` section (see :data:`MODEL_DEFAULTS`).
    seed : int

    Returns
    -------
    Surrogate
    """
    settings = model_settings(model_config)
    if not isinstance(features, pd.DataFrame):
        features = pd.DataFrame(np.asarray(features, dtype=float))
    names = [str(c) for c in features.columns]
    X = features.to_numpy(dtype=float)
    energy = np.asarray(energy, dtype=float)
    groups = np.asarray(groups)
    ok = np.isfinite(energy)
    X, energy, groups = X[ok], energy[ok], groups[ok]
    if len(X) == 0:
        raise ValueError("no labelled structure with a finite energy to train on")
    columns = None
    if settings["prior_features"] == "linear":
        columns = prior_columns(names, "linear")
    main = _fit_member(X, energy, groups, settings, seed, columns)
    members = []
    rng = np.random.default_rng(seed)
    for k in range(int(settings["ensemble_size"])):
        sample = np.concatenate([
            rng.choice(np.flatnonzero(groups == g), size=(groups == g).sum(), replace=True)
            for g in np.unique(groups)
        ])
        members.append(_fit_member(X[sample], energy[sample], groups[sample], settings,
                                   seed + 1 + k, columns))
    info = {"n_rows": int(len(X)), "n_groups": int(len(np.unique(groups))), "seed": int(seed),
            "prior_alpha": main.prior.alpha if main.prior else None,
            "prior_columns": (None if main.prior is None or main.prior.columns is None
                              else len(main.prior.columns)),
            "n_failed_dropped": int((~ok).sum())}
    return Surrogate(feature_names=names, settings=settings, main=main, members=members,
                     info=info)
