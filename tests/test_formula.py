"""strata.formula: screening by SHAP, symbolic regression, its cross-validation and text.

The campaign-level tests reuse the ``mini`` EMT fixture of tests/test_explain.py (55-atom
Pt28Au27 icosahedra with their EMT energies).
"""

import numpy as np
import pandas as pd
import pytest
from test_explain import mini  # noqa: F401  (fixture)

from strata import evaluation, explain, formula
from strata.settings import FormulaSettings, ReportSettings

SETTINGS = ReportSettings.from_config({}).formula
#: a larger search than the default's (which is sized for a round's time budget)
SEARCH = FormulaSettings(**{**SETTINGS.__dict__, "population": 300, "generations": 10})


def _law(n=80, seed=0, noise=0.01):
    """ΔE = 0.3 x1 − 0.2 x2 x3 (eV) with a little noise, two more columns of noise."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 5))
    return X, 0.3 * X[:, 0] - 0.2 * X[:, 1] * X[:, 2] + noise * rng.normal(size=n)


def test_a_program_reads_and_evaluates_as_written():
    program = ["sub", "mul", 0, 1, "div", 2, 0.5]  # x1·x2 − x3 / 0.5
    X = np.array([[1.0, 2.0, 3.0], [0.5, 4.0, 1.0]])
    assert formula._infix(program) == "x1·x2 − x3 / 0.5"
    assert np.allclose(formula._execute(program, X), X[:, 0] * X[:, 1] - X[:, 2] / 0.5)
    # brackets where precedence needs them, none where it does not
    assert formula._infix(["mul", "add", 0, 1, 2]) == "(x1 + x2)·x3"
    assert formula._infix(["sub", 0, "sub", 1, 2]) == "x1 − (x2 − x3)"
    assert formula._infix(["add", 0, "mul", 1, 2]) == "x1 + x2·x3"
    # gplearn's protected division: 1 where the denominator is (nearly) zero
    assert np.allclose(formula._execute(["div", 0, 1], np.array([[2.0, 0.0]])), 1.0)


def test_the_fitness_is_gplearns_pearson():
    from gplearn.fitness import _fitness_map

    rng = np.random.default_rng(1)
    y, w = rng.normal(size=40), rng.random(40)
    cases = [rng.normal(size=40), -3 * y + 1, np.full(40, 2.0),
             np.where(np.arange(40) == 3, np.inf, y)]
    for y_pred in cases:
        assert formula.pearson(y, y_pred, w) == pytest.approx(
            _fitness_map["pearson"](y, y_pred, w), abs=1e-12)
    assert formula.pearson(y, -3 * y + 1, w) == pytest.approx(1.0)


def test_symbolic_regression_finds_a_known_law_within_the_size_bound():
    X, delta_e = _law()
    found = formula.fit(X, delta_e, [f"f{k}" for k in range(5)], SEARCH, seed=0)
    assert found.nodes <= SEARCH.max_size
    X_test, delta_test = _law(seed=1, noise=0.0)
    predicted = found.predict(X_test)
    assert np.corrcoef(predicted, delta_test)[0, 1] > 0.97
    assert np.mean(np.abs(predicted - delta_test)) < 0.02  # eV
    # x1 matters; the two noise columns do not (any use of them cancels out)
    shuffled = X_test.copy()
    shuffled[:, 3:] = np.random.default_rng(2).random((len(X_test), 2))
    assert np.allclose(found.predict(shuffled), predicted, atol=1e-3)
    moved = X_test.copy()
    moved[:, 0] += 0.5
    assert np.all(found.predict(moved) > predicted)


def test_the_size_bound_is_kept():
    X, delta_e = _law()
    small = FormulaSettings(**{**SETTINGS.__dict__, "max_size": 3})
    assert formula.fit(X, delta_e, list("abcde"), small, seed=0).nodes <= 3


def test_same_seed_same_formula():
    X, delta_e = _law()
    first, second = (formula.fit(X, delta_e, list("abcde"), SETTINGS, seed=3) for _ in range(2))
    assert first == second


def test_units_follow_the_energy():
    """Twice the energy, twice the formula (same expression, slope and intercept doubled)."""
    X, delta_e = _law()
    once = formula.fit(X, delta_e, list("abcde"), SETTINGS, seed=0)
    twice = formula.fit(X, 2 * delta_e, list("abcde"), SETTINGS, seed=0)
    assert once.program == twice.program
    assert np.allclose(twice.predict(X), 2 * once.predict(X))


def test_screening_keeps_important_varying_and_distinct_features():
    rng = np.random.default_rng(0)
    a, b = rng.random(30), rng.random(30)
    labelled = pd.DataFrame({"a": a, "a_twin": 2 * a + 1, "constant": np.ones(30), "b": b,
                             "c": rng.random(30)})
    importance = pd.Series({"constant": 9.0, "a": 5.0, "a_twin": 4.0, "b": 3.0, "c": 1.0,
                            "missing": 0.5})
    assert formula.screen(importance, labelled, 2) == ["a", "b"]
    assert formula.screen(importance, labelled, 10) == ["a", "b", "c"]


def _importance(mini):  # noqa: F811
    shap, _ = explain.shap_table(mini["surrogate"], mini["labelled"])
    return explain.mean_abs_shap(shap[explain.shap_columns(shap)])


def test_formula_tables_compare_formula_line_and_model_on_the_same_rows(mini):  # noqa: F811
    labelled = mini["labelled"]
    scores = evaluation.cross_validated_scores(labelled, mini["model"], 0)
    found, table, parity = formula.formula_tables(labelled, _importance(mini), scores,
                                                  mini["model"], SETTINGS, seed=0, k=3)
    assert list(table["method"]) == list(formula.METHODS)
    assert len(parity) == len(labelled)
    # ΔE is the energy relative to its composition's mean
    assert np.isclose(parity["delta_e"].mean(), 0.0, atol=1e-9)
    assert np.allclose(parity["delta_e"], labelled["energy"] - labelled["energy"].mean())
    by = table.set_index("method")
    assert (by["mae_eV"] > 0).all() and by["spearman"].between(-1, 1).all()
    # the formula's variables are the screened features, named in the legend
    for entry in by.loc["formula", "variables"].split("; "):
        name = entry.rsplit("(", 1)[1].rstrip(")")
        assert name in found.features and name in labelled
    # EMT energies of Pt–Au orderings are ranked well by a handful of layer features
    assert by.loc["formula", "spearman"] > 0.6
    text = formula.formula_text(found, table)
    assert found.expression() in text and "Spearman" in text


def test_the_model_row_is_the_train_stages_cross_validation(mini):  # noqa: F811
    labelled = mini["labelled"]
    # scores that rank exactly by energy: the model's row ranks perfectly, whatever its folds
    perfect = labelled[["structure_id"]].assign(score=-labelled["energy"])
    _, table, parity = formula.formula_tables(labelled, _importance(mini), perfect,
                                              mini["model"], SETTINGS, seed=0, k=3)
    by = table.set_index("method")
    assert by.loc["model", "spearman"] == pytest.approx(1.0)
    assert by.loc["formula", "spearman"] < 1.0
    # mapped to eV by one line through the origin: the scale is the least-squares one
    assert np.allclose(parity["model"], parity["delta_e"])


def test_too_few_labels_give_no_formula_and_say_so(mini):  # noqa: F811
    few = mini["labelled"].iloc[:6]
    scores = evaluation.cross_validated_scores(few, mini["model"], 0)
    found, table, parity = formula.formula_tables(few, _importance(mini), scores,
                                                  mini["model"], SETTINGS, seed=0, k=3)
    assert found is None and table.empty and parity.empty
    assert "too few" in formula.formula_text(found, table).lower()


@pytest.mark.parametrize(("spearman", "expected"), [
    (0.40, "much worse"), (0.85, "ranks nearly as well as the model"),
    (0.90, "ranks as well as the model"), (0.95, "ranks better than the model")])
def test_the_verdict_does_not_oversell(spearman, expected):
    table = pd.DataFrame({"method": list(formula.METHODS), "spearman": [spearman, 0.8, 0.9],
                          "kendall": 0.5, "mae_eV": 0.1})
    assert expected in formula.verdict(table)
