"""Relevance labels, query groups and the LightGBM surrogates (LambdaRank and regression).

The surrogate ranks orderings within a query group (one composition, and one template when a
campaign mixes shapes). Its score is "higher = predicted more stable".

Tree ensembles cannot extrapolate: beyond the best labelled structure every candidate falls in
the same leaves and hundreds tie at the top score. The ground state of a campaign always lies
beyond the labelled range, so the surrogate adds an extrapolating linear prior
(:mod:`strata.prior`), fitted first; its score is the ``init_score`` the LightGBM model boosts
from, and it is added back to the trees' output when scoring. The trees then learn the
non-linear corrections to the ranking, and the prior keeps the order beyond the labelled range.
``prior_weight = 0`` gives the plain tree model. An optional bootstrap ensemble provides an
uncertainty.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from strata.prior import LinearPrior, group_centred, prior_design
from strata.prototypes import Prototypes
from strata.settings import ModelSettings

MAX_LEVELS = 31  # length of LightGBM's default label_gain

# ----------------------------------------------------------------------------- groups, labels

def group_names(compositions, templates, by_template):
    """Query-group name of each structure: its composition, and ``"<composition>|<template>"``
    when groups split by template.

    Parameters
    ----------
    compositions : array_like of str
        Composition key per structure.
    templates : array_like of int or None
        Template index per structure (None: one template).
    by_template : bool or "auto"
        Include the template in the group; ``"auto"``: when more than one template occurs
        (``model.group_by_template``).

    Returns
    -------
    list[str]
    """
    compositions = np.asarray(compositions, dtype=object).astype(str)
    if templates is None:
        by_template = False
    elif by_template == "auto":
        by_template = len(np.unique(np.asarray(templates))) > 1
    if by_template:
        return [f"{c}|{int(t)}" for c, t in zip(compositions, templates, strict=True)]
    return list(compositions)


def query_groups(compositions, templates=None, by_template=False):
    """Query-group id of each structure (:func:`group_names`), numbered in order of first
    appearance."""
    ids = {}
    return np.array([ids.setdefault(name, len(ids))
                     for name in group_names(compositions, templates, by_template)], dtype=int)


def group_names_of(table, settings):
    """Query-group names of a labelled or candidate table (``composition``, ``template``)
    under ``settings.group_by_template`` (:class:`strata.settings.ModelSettings`)."""
    return group_names(table["composition"].to_numpy(), table["template"].to_numpy(int),
                       settings.group_by_template)


def groups_of(table, settings):
    """Query-group ids of a table (:func:`group_names_of`, numbered as :func:`query_groups`)."""
    return query_groups(table["composition"].to_numpy(), table["template"].to_numpy(int),
                        settings.group_by_template)


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
    """LightGBM parameters of the ``model`` settings."""
    params = {
        "learning_rate": settings.learning_rate,
        "num_leaves": int(settings.num_leaves),
        "max_depth": int(settings.max_depth),
        "min_data_in_leaf": int(min(settings.min_child_samples, max(1, n_rows // 2))),
        "min_sum_hessian_in_leaf": 1e-6,
        "bagging_fraction": settings.subsample,
        "bagging_freq": 1 if settings.subsample < 1 else 0,
        "feature_fraction": settings.colsample_bytree,
        "lambda_l2": settings.reg_lambda,
        "linear_tree": bool(settings.linear_tree),
        "min_data_in_bin": 1,
        "verbosity": -1,
        "seed": int(seed),
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
    }
    if settings.kind == "ranker":
        levels = int(settings.levels)
        gain = (np.arange(levels) if settings.label_gain == "linear"
                else 2.0 ** np.arange(levels) - 1)
        params.update(objective="lambdarank", label_gain=gain.tolist(),
                      lambdarank_truncation_level=max(30, n_rows), metric="None")
    else:
        params.update(objective="regression", metric="None")
    return params


def _fit_member(X, energy, groups, settings, seed, design=(None, None)):
    """Fit the prior (``design``: its columns and their weights) and the booster on one
    (re)sample."""
    prior = None
    if settings.prior == "ridge" and settings.prior_weight > 0 and len(X) >= 3:
        prior = LinearPrior.fit(X, energy, groups, settings.prior_weight, *design)
    init = prior.score(X) if prior is not None else np.zeros(len(X))
    if len(X) < 4 or int(settings.n_estimators) == 0:
        return _Member(None, prior)
    order = np.argsort(groups, kind="stable")  # lambdarank wants contiguous groups
    X, energy, groups, init = X[order], energy[order], groups[order], init[order]
    if settings.kind == "ranker":
        label = relevance_labels(energy, groups, int(settings.levels))
        _, group_sizes = np.unique(groups, return_counts=True)
        data = lgb.Dataset(X, label=label, group=group_sizes, init_score=init,
                           free_raw_data=False)
    else:
        centred = group_centred(energy, groups)
        scale = prior.scale if prior is not None else (centred.std() or 1.0)
        target = -centred / scale * max(settings.prior_weight, 1.0)
        data = lgb.Dataset(X, label=target, init_score=init, free_raw_data=False)
    params = _lgb_params(settings, seed, len(X))
    booster = lgb.train(params, data, num_boost_round=int(settings.n_estimators))
    return _Member(booster, prior)


# ----------------------------------------------------------------------------- surrogate

@dataclass
class Surrogate:
    """A fitted surrogate: ``score`` (higher = predicted more stable) and ``uncertainty``.

    Attributes
    ----------
    feature_names : list[str]
        Columns the model was trained on (``score`` reorders a DataFrame to them).
    settings : strata.settings.ModelSettings
    main : _Member
        Trained on all labelled structures; gives the score.
    members : list[_Member]
        Bootstrap members; the spread of their scores is the uncertainty.
    info : dict
        Training facts (rows, groups, seed, prior alpha).
    prototypes : strata.prototypes.Prototypes or None
        The prototype environments whose features (the last columns of ``feature_names``)
        the model was trained on (``model.prototypes``); every scored ordering needs them.
    """

    feature_names: list
    settings: ModelSettings
    main: _Member
    members: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    prototypes: Prototypes | None = None

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

    def prior_scores(self, features):
        """Score of every row by the linear prior of the main model and of each member that
        has one, shape (n_priors, n_rows)."""
        X = self._matrix(features)
        priors = [m.prior for m in [self.main, *self.members] if m.prior is not None]
        return np.array([p.score(X) for p in priors]).reshape(len(priors), len(X))

    def member_scores(self, features):
        """Score of every row by each bootstrap member, shape (n_members, n_rows)."""
        X = self._matrix(features)
        return np.array([m.score(X) for m in self.members]).reshape(len(self.members), len(X))

    def uncertainty(self, features):
        """Spread (standard deviation) of the bootstrap members' scores; zeros without."""
        scores = self.member_scores(features)
        return scores.std(axis=0) if len(scores) >= 2 else np.zeros(scores.shape[1])

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
            "settings": self.settings.to_dict(),
            "info": self.info,
            "prototypes": self.prototypes.to_dict() if self.prototypes else None,
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
    return Surrogate(feature_names=sidecar["feature_names"],
                     settings=ModelSettings.from_config(sidecar["settings"]),
                     main=_Member(booster, prior(sidecar["prior"])), members=members,
                     info=sidecar["info"],
                     prototypes=(Prototypes.from_dict(sidecar["prototypes"])
                                 if sidecar.get("prototypes") else None))


def fit_surrogate(features, energy, groups, settings, seed=0):
    """Train the surrogate of one round.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per labelled structure, named descriptor columns.
    energy : array_like of float
        Reference energy per row; NaN rows (failed calculations) are left out.
    groups : array_like
        Query group per row (see :func:`query_groups`).
    settings : strata.settings.ModelSettings
    seed : int

    Returns
    -------
    Surrogate
    """
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
    uses_prior = settings.prior == "ridge" and settings.prior_weight > 0
    design = prior_design(names, settings) if uses_prior else (None, None)
    main = _fit_member(X, energy, groups, settings, seed, design)
    members = []
    rng = np.random.default_rng(seed)
    for k in range(int(settings.ensemble_size)):
        sample = np.concatenate([
            rng.choice(np.flatnonzero(groups == g), size=(groups == g).sum(), replace=True)
            for g in np.unique(groups)
        ])
        members.append(_fit_member(X[sample], energy[sample], groups[sample], settings,
                                   seed + 1 + k, design))
    info = {"n_rows": int(len(X)), "n_groups": int(len(np.unique(groups))), "seed": int(seed),
            "prior_alpha": main.prior.alpha if main.prior else None,
            "prior_columns": (None if main.prior is None or main.prior.columns is None
                              else len(main.prior.columns)),
            "n_failed_dropped": int((~ok).sum())}
    return Surrogate(feature_names=names, settings=settings, main=main, members=members,
                     info=info)
