"""How well the campaign is doing: the metrics of one round.

Out-of-sample by construction: the batch computed in round ``r`` was chosen (and scored) by the
model of round ``r - 1``, so comparing its recorded scores with its reference energies measures
that model on structures it never saw. Cross-validated figures on all labels and the best
energy so far complete the picture. The regret against a known ground truth is added when a
report is rendered (:func:`with_regret`), so that a change of ``ground_truth_energy`` reruns no
round.
"""

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from strata import metrics, ranking
from strata.files import feature_columns

#: the columns of a cross-validated scores table besides ``score``
SCORE_KEYS = ("structure_id", "composition", "template", "energy")


def batch_metrics(batch, k, settings):
    """Metrics of the model that chose a batch, on that batch (within query group)."""
    ok = batch[np.isfinite(batch["energy"]) & np.isfinite(batch["score"])]
    if ok.empty:
        return {}
    table = ok[["energy", "score"]].assign(group=ranking.group_names_of(ok, settings))
    figures = metrics.grouped_metrics(table, "group", "energy", "score", k)
    return {f"batch.{name}": value for name, value in figures.items() if name != "n_groups"}


def folds_of(n, seed, folds=5):
    """Fold index of each of ``n`` labelled structures: structures are split, never groups, so
    each composition is in every fold. Every cross-validation of a round uses these folds."""
    return np.random.default_rng(seed).permutation(n) % folds


def out_of_fold(labelled, fit, seed, folds=5):
    """Out-of-fold predictions of ``fit(train_rows) -> predict(test_rows) -> array`` over the
    labelled structures with a finite energy (:func:`folds_of`); those rows and the
    predictions, or None when there are fewer than ``2 * folds`` of them."""
    ok = labelled[np.isfinite(labelled["energy"])].reset_index(drop=True)
    if len(ok) < 2 * folds:
        return None
    fold_of = folds_of(len(ok), seed, folds)
    predicted = np.empty(len(ok))
    for train, test in GroupKFold(n_splits=folds).split(ok, groups=fold_of):
        predicted[test] = fit(ok.iloc[train])(ok.iloc[test])
    return ok, predicted


def surrogate_fit(settings, seed):
    """``fit`` of :func:`out_of_fold` for the surrogate: trained on the training rows, scoring
    the others (higher = more stable). The main booster is fitted first with the same seed, so
    the bootstrap ensemble, which changes no score, is skipped."""
    settings = settings.replace(ensemble_size=0)

    def fit(train):
        features = feature_columns(train)
        surrogate = ranking.fit_surrogate(train[features], train.energy.to_numpy(),
                                          ranking.groups_of(train, settings), settings, seed)
        return lambda test: surrogate.score(test[features])

    return fit


def cross_validated_scores(labelled, settings, seed, folds=5):
    """Out-of-fold scores of the surrogate (higher = more stable) on every labelled structure
    with a finite energy: ``structure_id``, ``composition``, ``template``, ``energy`` and
    ``score`` (no rows
    with fewer than ``2 * folds`` structures).

    Folds split structures, never groups (:func:`folds_of`): each structure is scored by a
    model trained on the other folds of every composition. The train stage writes this table
    once; the formula stage compares with it rather than training the folds again.
    """
    done = out_of_fold(labelled, surrogate_fit(settings, seed), seed, folds)
    if done is None:
        return pd.DataFrame(columns=[*SCORE_KEYS, "score"])
    ok, score = done
    return ok[list(SCORE_KEYS)].assign(score=score)


def cv_metrics(scores, settings, k):
    """Within-composition metrics (``cv.*``) of a :func:`cross_validated_scores` table."""
    if scores.empty:
        return {}
    table = scores[["energy", "score"]].assign(group=ranking.group_names_of(scores, settings))
    figures = metrics.grouped_metrics(table, "group", "energy", "score", k)
    return {f"cv.{name}": value for name, value in figures.items() if name != "n_groups"}


def cross_validated_metrics(labelled, settings, seed, k, folds=5):
    """K-fold metrics of the surrogate on every labelled structure (within composition):
    :func:`cv_metrics` of :func:`cross_validated_scores`."""
    return cv_metrics(cross_validated_scores(labelled, settings, seed, folds), settings, k)


def progress(labelled, round_):
    """Reference calls, failures and the best energy so far (NaN for several compositions)."""
    so_far = labelled[labelled["round"] <= round_]
    ok = so_far[np.isfinite(so_far["energy"])]
    best = ok.groupby("composition")["energy"].min()
    return {
        "round": round_,
        "reference_calls": len(so_far),
        "failed": int((so_far["status"] != "ok").sum()),
        "best_energy": float(best.iloc[0]) if len(best) == 1 else np.nan,
    }


def with_chance(metrics, chances):
    """The metrics of some rounds with ``better_chance``: the largest chance of any group
    that its round's pool held a better ordering than the best computed before the round
    (:func:`strata.rounds.better_chance`; the stop rule ``selection.stop_chance`` compares
    it). NaN in round 0 (no model yet).

    Parameters
    ----------
    metrics : pandas.DataFrame
        Rows of :func:`round_metrics`.
    chances : mapping of int to pandas.DataFrame
        Round → its ``better_chance`` table.
    """
    largest = {r: (float(t["chance"].max()) if len(t) else np.nan) for r, t in chances.items()}
    return metrics.assign(better_chance=metrics["round"].map(largest).astype(float))


def with_regret(metrics, ground_truth_energy):
    """The metrics of some rounds with the regret of each round's best energy.

    Computed when a report is rendered, from ``best_energy``, so that only the report rules
    depend on ``ground_truth_energy``.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Rows of :func:`round_metrics` (a ``regret`` column already there is replaced).
    ground_truth_energy : float or None
        The known lowest energy (eV) of the single composition; None: no regret column.

    Returns
    -------
    pandas.DataFrame
        A copy, with ``regret = best_energy - ground_truth_energy`` after ``best_energy``
        (NaN where the best energy is, e.g. for several compositions).
    """
    table = metrics.drop(columns="regret", errors="ignore")
    if ground_truth_energy is None:
        return table
    table.insert(table.columns.get_loc("best_energy") + 1, "regret",
                 table["best_energy"] - float(ground_truth_energy))
    return table


def round_metrics(labelled, round_, settings, k, scores):
    """All metrics of one round as a one-row table.

    Parameters
    ----------
    labelled : pandas.DataFrame
        Every labelled structure of rounds ``0 … round_`` (with batch scores where recorded).
    round_ : int
    settings : strata.settings.ModelSettings
    k : int
        For recall@k and regret@k of the cross-validation (the batch size); the batch's own
        metrics use ``max(1, k // 5)``.
    scores : pandas.DataFrame
        The cross-validated scores of every label (:func:`cross_validated_scores`).
    """
    row = progress(labelled, round_)
    batch = labelled[labelled["round"] == round_]
    if round_ > 0 and "score" in batch:
        # within a batch of k, recall@k is always 1: ask whether the top fifth was best
        row.update(batch_metrics(batch, max(1, k // 5), settings))
    row.update(cv_metrics(scores, settings, k))
    return pd.DataFrame([row])


def best_so_far(previous, results, n):
    """The ``n`` lowest-energy structures of each composition among two lists.

    Builds a round's ``best.extxyz`` from the one of the round before and the round's own
    reference results, so no report reads the results of every earlier round.

    Parameters
    ----------
    previous : list of ase.Atoms
        The best structures so far (the previous round's ``best.extxyz``; [] in round 0).
    results : list of ase.Atoms
        New reference results (failed ones, ``status`` not ``ok``, are skipped).
    n : int
        Structures kept per composition.

    Returns
    -------
    list of ase.Atoms
        Ordered by rank within composition, then energy (then ``structure_id``): the first
        entries are the best of each composition.
    """
    unique = {}
    for atoms in [*previous, *results]:
        if atoms.info.get("status", "ok") == "ok":
            unique.setdefault(atoms.info["structure_id"], atoms)
    table = pd.DataFrame({
        "sid": list(unique),
        "composition": [a.info.get("composition", "") for a in unique.values()],
        "energy": [a.get_potential_energy() for a in unique.values()],
    })
    if table.empty:
        return []
    table = table.sort_values(["energy", "sid"])
    table["rank"] = table.groupby("composition").cumcount()
    chosen = table[table["rank"] < n].sort_values(["rank", "energy", "sid"])
    return [unique[sid] for sid in chosen["sid"]]
