"""A tiny real campaign's reports opened in headless Chromium: every image loads, tables exist.

The check script is injected into a copy of each report (beside it); Chromium runs it on the
page's load event and ``--dump-dom`` prints the DOM with the script's verdict. A screenshot of
each report is left in the test's temporary folder.
"""

import json
import re
import shutil
import subprocess

import pytest
from conftest import SNAKEMAKE, copy_workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROUNDS = 2

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]

CHECK = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const metrics = document.querySelector('table.metrics');
  const verdict = {
    images: images.length,
    alts: images.map(i => i.alt),
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    metricsRows: metrics ? metrics.tBodies[0].rows.length : 0,
    metricsHeader: metrics ? Array.from(metrics.tHead.rows[0].cells).map(c => c.textContent) : [],
    tables: Array.from(document.querySelectorAll('table.dataframe')).map(t => t.classList[1]),
    title: document.title,
  };
  const out = document.createElement('pre');
  out.id = 'strata-check';
  out.textContent = JSON.stringify(verdict);
  document.body.appendChild(out);
});
</script>"""


def chromium(tmp_path, *args):
    """Run headless Chromium with a fresh profile; return its stdout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-quic", "--no-first-run",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
        "--hide-scrollbars", *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def browser_check(report, tmp_path):
    """Open a copy of ``report`` with the check script; the script's verdict."""
    checked = report.with_name(f"{report.stem}.checked.html")
    checked.write_text(report.read_text().replace("</body>", f"{CHECK}</body>"))
    dom = chromium(tmp_path, "--virtual-time-budget=20000", "--dump-dom", checked.as_uri())
    found = re.search(r"<pre id=\"strata-check\">(.*?)</pre>", dom, re.S)
    assert found, f"the check script did not run on {report}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def tiny_campaign(tmp_path_factory):
    """A two-round EMT campaign (8 initial structures, batches of 3) in a temporary folder."""
    folder = copy_workflow(tmp_path_factory.mktemp("campaign"))
    command = [
        str(SNAKEMAKE), "-d", str(folder), "-s", str(folder / "Snakefile"), "--cores", "2",
        "results/report.html",
        "--config", f"rounds={ROUNDS}", "initial_size=8", "batch_size=3", "pool_size=100",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=folder)
    assert done.returncode == 0, done.stderr[-4000:]
    return folder / "results"


@pytest.mark.parametrize("page", [f"round_{r:02d}/report.html" for r in range(ROUNDS)]
                         + ["report.html"])
def test_report_opens_in_chromium(tiny_campaign, tmp_path, page):
    report = tiny_campaign / page
    assert report.exists()
    verdict = browser_check(report, tmp_path)
    assert verdict["images"] >= 3, verdict
    assert verdict["broken"] == [], verdict
    assert verdict["metricsRows"] == (int(page[6:8]) + 1 if page.startswith("round") else ROUNDS)
    assert {"round", "reference_calls", "best_energy"} <= set(verdict["metricsHeader"])
    if page.startswith("round"):  # the explain tables, rendered (round 0: too few for CV)
        assert {"regions", "batch"} <= set(verdict["tables"]), verdict
        if page.startswith(f"round_{ROUNDS - 1:02d}"):
            assert {"weighting", "ablation"} <= set(verdict["tables"]), verdict
            # the formula and the chart (11 labels: enough for a cross-validated formula)
            assert "formula" in verdict["tables"], verdict
            assert {"formula parity", "chart of the structures"} <= set(verdict["alts"])
            assert "ΔE ≈" in report.read_text()
    else:  # the formula round by round and the campaign's chart with the best's path
        assert "formulas" in verdict["tables"], verdict
        assert "campaign chart" in verdict["alts"], verdict
    shot = tmp_path / f"{page.replace('/', '_')}.png"
    chromium(tmp_path, "--window-size=1200,5000", f"--screenshot={shot}", report.as_uri())
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
