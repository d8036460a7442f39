"""A formula of stability: symbolic regression on the features the surrogate uses most.

After the screen-then-distil route of SA-GAT-SR (2025), where an attention step picks the few
features that matter out of a large descriptor and symbolic regression turns them into a
compact analytical expression:

1. **Screen** (:func:`screen`): the surrogate's SHAP importance (mean |SHAP|, the explain
   stage's table) plays the part of the attention step. The ``features`` most important
   columns are kept, skipping a column that is constant on the labelled structures or almost
   collinear with one already kept.
2. **Distil** (:func:`fit`): gplearn's genetic programming (pure Python; PySR would need a
   Julia download at run time) searches expressions of those columns with + − × ÷ that
   correlate best with the within-composition energy; the expression is then scaled to eV by
   least squares (*linear scaling*, Keijzer 2003): ``ΔE ≈ a + b · f(x)``. Among every program
   the run produced, the fittest of at most ``max_size`` nodes is kept (correlation less
   ``parsimony`` per node: a shorter expression wins unless a longer one earns it). Seeded and
   single-threaded, hence deterministic.
3. **Judge** (:func:`formula_tables`): the formula, a plain least-squares line on the same
   columns and the full surrogate are cross-validated on the same folds as the round's model
   (:func:`strata.evaluation.folds_of`): within-composition Spearman, Kendall and MAE (eV).
   The surrogate ranks, it does not predict eV: its out-of-fold scores are mapped to eV by one
   least-squares line for the MAE. :func:`verdict` says plainly when the formula is much
   worse than the model.

``ΔE`` is the energy relative to the mean of its composition (query group), in eV per
particle: the quantity a within-composition ranking is about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from strata import evaluation, metrics, ranking
from strata.descriptors import readable_name
from strata.prior import group_centred

#: the functions formulas are built of (gplearn's names; ``div`` is protected division)
FUNCTIONS = ("add", "sub", "mul", "div")


def pearson(y, y_pred, w):
    """|Pearson correlation| of ``y_pred`` with ``y`` under weights ``w`` (0 when undefined):
    gplearn's ``"pearson"`` fitness without its per-program overheads (an error-state context
    and ``np.average`` calls cost more than the correlation on a few hundred structures)."""
    if not np.isfinite(y_pred).all():
        return 0.0
    a, b = y_pred - (w @ y_pred) / w.sum(), y - (w @ y) / w.sum()
    spread = np.sqrt((w @ (a * a)) * (w @ (b * b)))
    return float(abs(w @ (a * b)) / spread) if spread > 0 else 0.0
_INFIX = {"add": "{} + {}", "sub": "{} − {}", "mul": "{}·{}", "div": "{} / {}"}
#: how much worse (Spearman) than the model a formula may be before the report says so
MUCH_WORSE = 0.15
METHODS = ("formula", "linear fit", "model")


@dataclass(frozen=True)
class Formula:
    """``ΔE ≈ intercept + slope · program(x)`` (eV) on the columns ``features``.

    Attributes
    ----------
    features : tuple of str
        Descriptor columns, ``x1 … xm`` in the expression.
    program : list
        gplearn's program in prefix order: function names, column indices and constants.
    slope, intercept : float
        The linear scaling to eV.
    """

    features: tuple
    program: list
    slope: float
    intercept: float

    @property
    def nodes(self):
        """Size of the expression (functions, variables and constants)."""
        return len(self.program)

    def predict(self, X):
        """ΔE (eV) of rows ``X`` (n, len(features))."""
        return self.intercept + self.slope * _execute(self.program, np.asarray(X, float))

    def expression(self):
        """The expression in readable form, variables ``x1 … xm``."""
        body = _infix(self.program)
        return f"ΔE ≈ {self.intercept:.4g} {'+' if self.slope >= 0 else '−'} " \
               f"{abs(self.slope):.4g} · ({body}) eV"

    def legend(self):
        """``x<k> = <readable feature name>`` for every variable the expression uses."""
        used = sorted({node for node in self.program if isinstance(node, int)})
        return [f"x{k + 1} = {readable_name(self.features[k])} ({self.features[k]})"
                for k in used]


def _execute(program, X):
    """Value of a prefix program on the rows of ``X``, with gplearn's protected division."""
    def value(position):
        node = program[position]
        if isinstance(node, str):
            left, after = value(position + 1)
            right, end = value(after)
            if node == "add":
                return left + right, end
            if node == "sub":
                return left - right, end
            if node == "mul":
                return left * right, end
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(np.abs(right) > 0.001, left / right, 1.0), end
        if isinstance(node, int):
            return X[:, node], position + 1
        return np.full(len(X), float(node)), position + 1

    return value(0)[0]


def _infix(program):
    """Infix text of a prefix program, brackets only where they are needed."""
    def text(position):  # -> (text, precedence, next position)
        node = program[position]
        if isinstance(node, str):
            left, left_rank, after = text(position + 1)
            right, right_rank, end = text(after)
            rank = 1 if node in ("add", "sub") else 2
            if left_rank < rank:
                left = f"({left})"
            if right_rank < rank or (right_rank == rank and node in ("sub", "div")):
                right = f"({right})"
            return _INFIX[node].format(left, right), rank, end
        if isinstance(node, int):
            return f"x{node + 1}", 3, position + 1
        return f"{node:.3g}", 3, position + 1

    return text(0)[0]


def screen(importance, labelled, count, max_correlation=0.95):
    """The ``count`` most important features, each varying on the labelled structures and not
    almost collinear (|r| > ``max_correlation``) with one kept before it.

    Parameters
    ----------
    importance : pandas.Series
        Mean |SHAP| per feature (:func:`strata.explain.mean_abs_shap`).
    labelled : pandas.DataFrame
        The labelled structures (their descriptor columns).
    count : int
    max_correlation : float
    """
    kept = []
    for name in importance.sort_values(ascending=False).index:
        if len(kept) == count:
            break
        if name not in labelled or not np.isfinite(labelled[name]).all():
            continue
        column = labelled[name].to_numpy(float)
        if np.ptp(column) == 0:
            continue
        if any(abs(np.corrcoef(column, labelled[k].to_numpy(float))[0, 1]) > max_correlation
               for k in kept):
            continue
        kept.append(name)
    return kept


def fit(X, delta_e, features, settings, seed):
    """The formula of ``delta_e`` (eV, within-composition) on columns ``X`` (see module).

    Parameters
    ----------
    X : array_like, shape (n, len(features))
    delta_e : array_like of float
    features : sequence of str
    settings : strata.settings.FormulaSettings
    seed : int

    Returns
    -------
    Formula
    """
    from gplearn.fitness import make_fitness
    from gplearn.genetic import SymbolicRegressor

    X, delta_e = np.asarray(X, float), np.asarray(delta_e, float)
    regressor = SymbolicRegressor(
        population_size=settings.population, generations=settings.generations,
        function_set=FUNCTIONS, stopping_criteria=1.0,
        metric=make_fitness(function=pearson, greater_is_better=True, wrap=False),
        parsimony_coefficient=settings.parsimony, init_depth=(1, 3), const_range=(-1.0, 1.0),
        random_state=seed, n_jobs=1)
    regressor.fit(X, delta_e)
    best = max((p for generation in regressor._programs if generation for p in generation
                if p is not None and p.length_ <= settings.max_size),
               key=lambda p: (np.nan_to_num(p.fitness_, nan=-1.0), -p.length_))
    program = [node.name if hasattr(node, "name") else node for node in best.program]
    values = _execute(program, X)
    slope, intercept = (np.polyfit(values, delta_e, 1) if np.ptp(values) > 0
                        else (0.0, float(delta_e.mean())))
    return Formula(tuple(features), program, float(slope), float(intercept))


def within_energy(table, model_settings):
    """ΔE of each row: its energy relative to the mean of its query group (eV)."""
    return group_centred(table["energy"].to_numpy(float),
                         np.asarray(ranking.group_names_of(table, model_settings)))


def _formula_fit(features, model_settings, settings, seed):
    def fit_on(train):
        formula = fit(train[features], within_energy(train, model_settings), features,
                      settings, seed)
        return lambda test: formula.predict(test[features])
    return fit_on


def _linear_fit(features, model_settings):
    def fit_on(train):
        from sklearn.linear_model import LinearRegression

        line = LinearRegression().fit(train[features], within_energy(train, model_settings))
        return lambda test: line.predict(test[features])
    return fit_on


def _to_ev(score, delta_e, groups):
    """Scores mapped to ΔE by one least-squares line through the origin, per-group centred."""
    centred = group_centred(score, groups)
    scale = (centred @ delta_e) / (centred @ centred) if centred @ centred > 0 else 0.0
    return scale * centred


def formula_tables(labelled, importance, model_scores, model_settings, settings, seed, k,
                   folds=5):
    """The round's formula and how it compares with a line and with the model.

    Parameters
    ----------
    labelled : pandas.DataFrame
        Every labelled structure of the round (descriptor columns, energy).
    importance : pandas.Series
        Mean |SHAP| per feature of the round's model.
    model_scores : pandas.DataFrame
        The model's out-of-fold ``score`` per ``structure_id``, on the same folds
        (:func:`strata.evaluation.cross_validated_scores`, written by the train stage).
    model_settings : strata.settings.ModelSettings
    settings : strata.settings.FormulaSettings
    seed : int
        Seeds the symbolic regression and draws the folds (those of the model's CV).
    k : int
        recall@k of the comparison (the batch size).

    Returns
    -------
    formula : Formula or None
        Fitted on every labelled structure (None: too few structures or no varying feature).
    table : pandas.DataFrame
        One row per method (formula, linear fit, model): ``spearman``, ``kendall``,
        ``mae_eV`` (cross-validated), ``nodes``, ``expression`` and ``variables`` (the
        legend of ``x1 … xm``).
    parity : pandas.DataFrame
        ``structure_id``, ``composition``, ``delta_e`` and each method's out-of-fold ΔE (eV).
    """
    ok = labelled[np.isfinite(labelled["energy"])].reset_index(drop=True)
    features = screen(importance, ok, settings.features)
    empty = (None, pd.DataFrame(columns=["method", "spearman", "kendall", "mae_eV", "nodes",
                                         "expression", "variables"]),
             pd.DataFrame(columns=["structure_id", "composition", "delta_e", *METHODS]))
    if not features or len(ok) < 2 * folds:
        return empty
    formula = fit(ok[features], within_energy(ok, model_settings), features, settings, seed)
    fits = {"formula": _formula_fit(features, model_settings, settings, seed),
            "linear fit": _linear_fit(features, model_settings)}
    delta_e = within_energy(ok, model_settings)
    groups = np.asarray(ranking.group_names_of(ok, model_settings))
    parity = ok[["structure_id", "composition"]].assign(delta_e=delta_e)
    for method, fit_on in fits.items():  # ok's rows in their order, as out_of_fold keeps them
        parity[method] = evaluation.out_of_fold(ok, fit_on, seed, folds)[1]
    # the model ranks (higher = more stable): its scores mapped to eV by one line
    score = ok[["structure_id"]].merge(model_scores, on="structure_id", how="left")["score"]
    parity["model"] = _to_ev(score.to_numpy(float), delta_e, groups)
    rows = []
    for method in METHODS:
        predicted = parity[method].to_numpy(float)
        figures = metrics.grouped_metrics(
            pd.DataFrame({"group": groups, "energy": delta_e, "score": -predicted}),
            "group", "energy", "score", k)
        rows.append({"method": method, "spearman": figures.get("spearman", np.nan),
                     "kendall": figures.get("kendall", np.nan),
                     "mae_eV": float(np.mean(np.abs(predicted - delta_e))),
                     "nodes": formula.nodes if method == "formula" else np.nan,
                     "expression": formula.expression() if method == "formula" else "",
                     "variables": "; ".join(formula.legend()) if method == "formula" else ""})
    return formula, pd.DataFrame(rows), parity


def verdict(table):
    """One sentence: how the formula compares with the model (from :func:`formula_tables`)."""
    by = table.set_index("method")
    if by.empty or not np.isfinite(by.loc["formula", "spearman"]):
        return "Too few labelled structures for a cross-validated formula."
    formula, model = by.loc["formula", "spearman"], by.loc["model", "spearman"]
    line = by.loc["linear fit", "spearman"]
    if formula < model - MUCH_WORSE:
        return (f"The formula is much worse than the model (Spearman {formula:.2f} against "
                f"{model:.2f}): read it as a rough trend, not as what the model has learnt.")
    return (f"The formula ranks {_compared(formula, model)} the model (Spearman {formula:.2f} "
            f"against {model:.2f}) and {_compared(formula, line)} a straight line on the same "
            f"features ({line:.2f}).")


def _compared(first, second, margin=0.02):
    """How Spearman ``first`` compares with ``second``, within ``margin`` a tie."""
    if first > second + margin:
        return "better than"
    return "as well as" if first >= second - margin else "nearly as well as"


def formula_text(formula, table):
    """The text file of a round's formula: expression, legend, accuracy and verdict."""
    if formula is None:
        return "No formula: too few labelled structures or no varying feature.\n"
    lines = [formula.expression(), "", "where", *(f"  {entry}" for entry in formula.legend()),
             "", "cross-validated within composition (same folds as the model):"]
    lines += [f"  {row.method:<10}  Spearman {row.spearman:.3f}  Kendall {row.kendall:.3f}  "
              f"MAE {1000 * row.mae_eV:.1f} meV" for row in table.itertuples()]
    return "\n".join([*lines, "", verdict(table), ""])
