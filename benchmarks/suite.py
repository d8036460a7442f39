"""The benchmark suite: reference calls until the ground truth, on particles people study.

Every campaign is the workflow's own (:func:`strata.rounds.run`: generate, select, reference,
describe, train), from ``config/config.yaml`` with the particle of ``benchmarks/systems.yaml``
put in, as a user would, and asap3's EMT as the reference (:class:`oracle.Oracle`). Ground
truths come from ``benchmarks/ground_truths.json`` (:mod:`ground_truths`). Side by side, in
the same run and on the same oracle: random search with the campaign's budget, and a plain GA
(:mod:`baselines`) with ``--ga-budget`` calls, whose median is the ratio's reference.

Per particle, initial set (``structured``: the config's motifs; ``random``:
``initial_motifs: [random]``) and method, over ``--seeds`` seeds: calls until the ground truth
is reached (median / min / max, ``>B`` when not within the budget B), regret (eV, median over
seeds of the best energy so far minus the ground truth) at 25 / 50 / 100 / 150 calls, and the
seconds of non-reference work per round (generate, select, describe, train).

Diagnosis (:func:`diagnose`) of every slow (> 30 calls) or failed campaign, round by round:
the previous round's model scores the ground truth against the pool its search proposed.
``search`` — the model scores the ground truth above every candidate of the pool, but the pool
does not hold it (the search missed the model's own optimum); ``model`` — the ground truth is
not among the model's top ``batch_size`` (the model is wrong); ``picked``/``near``: in the pool
and the batch, or in the pool's top but not picked; ``twin``: in the pool's top, but scored
exactly like other candidates of the pool (orderings the descriptor cannot tell apart, e.g.
the same minority atoms on different but equivalent facet sites), of which the batch took
others.

Usage: ``python benchmarks/suite.py [--systems a b] [--seeds 5] [--budget 150]
[--inits structured random] [--set section.key=json ...] [--quick] [--jobs 2]``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from concurrent.futures import ProcessPoolExecutor

import baselines
import numpy as np
import pandas as pd
import yaml
from ground_truths import truths_file
from oracle import HERE, RELAXED, apply_overrides, campaign_config, oracle_of, systems, template_of

from strata import rounds, selection
from strata.campaign import Campaign
from strata.files import codes_from_text

BASE_CONFIG = yaml.safe_load((HERE.parent / "config" / "config.yaml").read_text())
CHECKPOINTS = (25, 50, 100, 150)
SLOW = 30  # calls: campaigns slower than this are diagnosed


def user_config(system, seed, init, budget, overrides=()):
    """config/config.yaml with the particle put in (as a user would), seeded."""
    config = json.loads(json.dumps(BASE_CONFIG))
    cluster = {"lattice_constant": None, **system["cluster"]}
    config.update(campaign_config(system, seed=seed, rounds=budget, ground_truth_energy=None))
    config["cluster"] = {**BASE_CONFIG["cluster"], **cluster}
    if init == "random":
        config["initial_motifs"] = ["random"]
    return apply_overrides(config, overrides)


def diagnose(campaign, record, previous, truth_codes, target_energy):
    """What stood between a round and the ground truth (see the module docstring)."""
    if previous is None or record.candidates.empty:
        return None
    truth = np.asarray(truth_codes)[None, :]
    score = float(previous.surrogate.score(
        campaign.featurizer(0, truth, previous.surrogate.prototypes))[0])
    pool = record.candidates
    scores = pool["score"].to_numpy(float)
    rank = int((scores > score).sum()) + 1
    twins = int(selection.same_score(scores, score).sum()) > 1
    in_pool = campaign.keys(0, truth)[0] in set(pool["key"])
    picked = any(r.get_potential_energy() <= target_energy for r in record.results)
    if picked:
        return "picked"
    if not in_pool:
        return "search" if rank == 1 else "model"
    if rank > campaign.settings.batch_size:
        return "model"
    return "twin" if twins else "near"


def strata_run(args):
    """One campaign (a worker task): energy trace, seconds per round, diagnosis per round and
    the chance of a better ordering each round (:func:`strata.rounds.better_chance`) with
    whether one truly remained. ``to_budget``: go on after the ground truth is reached."""
    system, seed, init, budget, overrides, truth, to_budget = args
    campaign = Campaign.from_config(user_config(system, seed, init, budget, overrides))
    oracle = oracle_of(campaign)
    target = truth["energy"] + truth["tolerance"]
    work, verdicts, chances, previous = [], [], [], None
    for record in rounds.run(campaign, oracle.compute):
        work.append(sum(v for k, v in record.seconds.items() if k != "reference"))
        verdicts.append(diagnose(campaign, record, previous, codes_from_text(truth["codes"]),
                                 target))
        before = oracle.calls - len(record.results)
        if len(record.chance):
            chances.append({"calls": before, "chance": float(record.chance["chance"].max()),
                            "remained": min(oracle.energies[:before]) > target})
        previous = record
        if oracle.calls >= budget or (min(oracle.energies) <= target and not to_budget):
            break
    return {"system": system["name"], "method": f"strata ({init})", "seed": seed,
            "trace": oracle.energies[:budget], "seconds_per_round": float(np.mean(work)),
            "verdicts": [v for v in verdicts if v], "chances": chances}


def baseline_run(args):
    """Random search or the plain GA (a worker task)."""
    system, seed, method, budget, truth, overrides = args
    template, _, counts, oracle = template_of(system, overrides)
    rng = np.random.default_rng(10_000 + seed)
    target = truth["energy"] + truth["tolerance"]
    if method == "random":
        trace = baselines.random_search(oracle, counts, budget, rng, target)
    else:
        trace = baselines.plain_ga(oracle, counts, template.positions, budget, rng, target)
    return {"system": system["name"], "method": method, "seed": seed, "trace": trace}


def calls_to(trace, target):
    hits = np.flatnonzero(np.asarray(trace) <= target)
    return int(hits[0]) + 1 if len(hits) else None


def spread(calls, budget=None):
    """Median, min and max over seeds of the calls to a target (None: not reached, counted
    as infinite), each ``>budget`` when infinite (with ``budget``; else ``inf``)."""
    padded = [np.inf if c is None else c for c in calls]
    values = {"median": float(np.median(padded)), "min": min(padded), "max": max(padded)}
    if budget is None:
        return values
    return {k: v if np.isfinite(v) else f">{budget}" for k, v in values.items()}


def summary_row(runs, truth, budget):
    """One table row: calls to the ground truth, regrets, seconds per round, verdicts."""
    target = truth["energy"] + truth["tolerance"]
    calls = [calls_to(r["trace"], target) for r in runs]
    row = {"reached": f"{sum(c is not None for c in calls)}/{len(calls)}",
           **spread(calls, budget)}
    for k in CHECKPOINTS:
        regrets = [min(r["trace"][:k]) - truth["energy"] for r in runs
                   if len(r["trace"]) >= k or calls_to(r["trace"], target)]
        regret = float(np.median(regrets)) if regrets else np.nan
        row[f"regret@{k}"] = 0.0 if regret <= truth["tolerance"] else regret
    if "seconds_per_round" in runs[0]:
        row["s/round"] = float(np.mean([r["seconds_per_round"] for r in runs]))
        slow = [r for r, c in zip(runs, calls, strict=True) if c is None or c > SLOW]
        row["diagnosis"] = " ".join(_verdict(r["verdicts"]) for r in slow) or "-"
    row["calls"] = " ".join(str(c) if c is not None else "-" for c in calls)
    return row


def _verdict(verdicts):
    """A slow run's rounds as counts, e.g. ``s3m5`` (3 rounds search missed, 5 model)."""
    counts = {v: verdicts.count(v) for v in ("search", "model", "near", "twin")}
    return "".join(f"{v[0]}{n}" for v, n in counts.items() if n) or "?"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="*")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--ga-budget", type=int, default=5000)
    parser.add_argument("--inits", nargs="+", default=["structured", "random"],
                        choices=["structured", "random"])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON",
                        help="a config override of the strata campaigns (repeatable)")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--relaxed", action="store_true",
                        help="relaxed references (oracle.RELAXED) against the relaxed ground "
                             "truths (ground_truths_relaxed.json), baselines included")
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget 60, GA 1000")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--stopping", action="store_true",
                        help="run every campaign to the budget and print how far the chance "
                             "of a better ordering (selection.stop_chance) can be trusted")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget, args.ga_budget = 2, 60, 1000
    if args.relaxed:
        args.set = [*RELAXED, *args.set]
    return args


def main(argv=None):
    args = parse_args(argv)
    path, tolerance = truths_file(args.relaxed)
    truths = {name: {**truth, "tolerance": tolerance}
              for name, truth in json.loads(path.read_text()).items()}
    chosen = [s for s in systems(args.systems) if s["name"] in truths]
    tasks = [(s, seed, init, args.budget, tuple(args.set), truths[s["name"]], args.stopping)
             for s in chosen for init in args.inits for seed in range(args.seeds)]
    base_tasks = [] if args.no_baselines else [
        (s, seed, method, args.budget if method == "random" else args.ga_budget,
         truths[s["name"]], tuple(args.set))
        for s in chosen for method in ("random", "ga") for seed in range(args.seeds)]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as executor:
        runs = list(executor.map(strata_run, tasks)) + list(executor.map(baseline_run,
                                                                         base_tasks))
    print_table(chosen, runs, truths, args)
    if args.stopping:
        print_stopping(runs, truths)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; settings: config/config.yaml"
          + "".join(f" {o}" for o in args.set))


def print_table(chosen, runs, truths, args):
    rows = []
    for system in chosen:
        truth = truths[system["name"]]
        by_method = {}
        for r in runs:
            if r["system"] == system["name"]:
                by_method.setdefault(r["method"], []).append(r)
        ga = by_method.get("ga")
        ga_median = summary_row(ga, truth, args.ga_budget)["median"] if ga else None
        for method, group in by_method.items():
            budget = args.ga_budget if method == "ga" else args.budget
            row = {"system": system["name"], "truth": truth["status"], "method": method,
                   **summary_row(group, truth, budget)}
            if isinstance(ga_median, float) and isinstance(row["median"], float):
                row["GA/strata"] = ga_median / row["median"] if method != "ga" else 1.0
            rows.append(row)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.3g}".format):
        print(table.to_string(index=False))


def _no_improvement(k, history):
    """``selection.stop_after k``: the k rounds before this one did not improve."""
    return len(history) > k and not any(r["improved"] for r in history[-k - 1:-1])


def _low_chance(threshold, k, history):
    """``selection.stop_chance`` with ``stop_chance_rounds`` k: the chance below
    ``threshold`` in the last k rounds."""
    return selection.stops_by_chance([[r["chance"]] for r in history], threshold, k)


#: stop rules replayed on campaigns run to the budget: name → rule(history) → stop now,
#: history = the rounds so far (chance, and whether the round improved the best energy)
STOP_RULES = {**{f"stop_after {k}": functools.partial(_no_improvement, k) for k in (2, 3, 5)},
              **{f"chance < 0.05 x{k}": functools.partial(_low_chance, 0.05, k)
                 for k in (1, 2, 3)},
              "chance < 0.5": functools.partial(_low_chance, 0.5, 1)}


def stop_row(run, truth, rule):
    """Replay a stop rule on one campaign run to its budget: ``early`` (before the ground
    truth), ``in time`` (calls past the ground truth) or ``never``."""
    target = truth["energy"] + truth["tolerance"]
    trace, history = np.asarray(run["trace"]), []
    bounds = [c["calls"] for c in run["chances"]] + [len(trace)]
    for c, end in zip(run["chances"], bounds[1:], strict=True):
        history.append({**c, "improved": bool(end > c["calls"] and trace[c["calls"]:end].min()
                                              < trace[:c["calls"]].min() - 1e-9)})
        if rule(history):
            return ("early", None) if c["remained"] else (
                "in time", c["calls"] - calls_to(trace, target))
    return "never", None


def stop_summary(runs, truth, rule):
    outcomes = [stop_row(run, truth, rule) for run in runs]
    extra = [x for kind, x in outcomes if kind == "in time"]
    return {**{kind: f"{sum(k == kind for k, _ in outcomes)}/{len(runs)}"
               for kind in ("early", "in time", "never")},
            "calls after the truth (median)": float(np.median(extra)) if extra else np.nan}


def print_stopping(runs, truths):
    """Per system: the stop rule replayed at several thresholds, and the chance against
    whether a better ordering truly remained, over every round of every campaign."""
    by_system = {}
    for run in runs:
        if "chances" in run:  # strata's, not the baselines'
            by_system.setdefault(run["system"], []).append(run)
    rows = [{"system": name, "rule": rule, **stop_summary(group, truths[name], STOP_RULES[rule])}
            for name, group in by_system.items() for rule in STOP_RULES]
    rounds_ = [c for group in by_system.values() for run in group for c in run["chances"]]
    print("\n=== stopping: stop rules replayed on campaigns run to the budget (early = the "
          "ground truth not reached yet; chance < 0.05 xk: in k rounds in a row)")
    print(pd.DataFrame(rows).to_string(index=False))
    table = pd.DataFrame(rounds_)
    if table.empty:
        return
    table["chance"] = pd.cut(table["chance"], [-0.01, 0.0, 0.2, 0.5, 0.99, 1.0],
                             labels=["0", "(0, 0.2]", "(0.2, 0.5]", "(0.5, 1)", "1"])
    calibration = table.groupby("chance", observed=True)["remained"].agg(["size", "mean"])
    print("\nevery round of every campaign: the chance against whether a better ordering "
          "truly remained (share of rounds)")
    print(calibration.rename(columns={"size": "rounds", "mean": "better one remained"})
          .round(2).to_string())


if __name__ == "__main__":
    main()
