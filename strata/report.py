"""Per-round and campaign reports (HTML that opens from the file system)."""

import html

import numpy as np
import pandas as pd

from strata.reference import read_result


def best_results(labelled, result_paths):
    """The lowest-energy result of each composition (reference files, energies attached)."""
    ok = labelled[np.isfinite(labelled["energy"])]
    best_ids = set(ok.loc[ok.groupby("composition")["energy"].idxmin(), "structure_id"])
    results = [read_result(path) for path in result_paths]
    return [r for r in results if r.info["structure_id"] in best_ids]


def table_html(table):
    """A table as HTML with numbers to four decimals."""
    return table.to_html(index=False, float_format=lambda x: f"{x:.4f}", na_rep="–",
                         classes="metrics")


def page(title, body):
    """A self-contained HTML page."""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )


def campaign_page(metrics, round_names):
    """The campaign report: metrics per round and links to the round reports."""
    links = "".join(f"<li><a href='round_{r}/report.html'>round {r}</a></li>" for r in round_names)
    return page("Strata campaign", f"<h2>Metrics</h2>{table_html(metrics)}<ul>{links}</ul>")


def round_page(round_, metrics, labelled):
    """The report of one round."""
    batch = labelled[labelled["round"] == round_]
    columns = ["structure_id", "origin", "status", "energy", "predicted_rank", "score",
               "uncertainty"]
    return page(
        f"Strata round {round_}",
        f"<h2>Metrics</h2>{table_html(metrics)}<h2>Batch</h2>"
        f"{table_html(pd.DataFrame(batch[columns]))}",
    )
