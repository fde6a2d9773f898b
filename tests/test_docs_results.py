"""docs/results.md, the results layout page, against the code and a real smoke build.

The page gives every CSV and JSON file a table under a heading that names the file: the first
column is a column or key in backticks, the "present" column says `always` or under which
condition. Nested JSON keys are dotted, `[]` stands for a list's elements and `{...}` for keys that
vary. These tests read those tables and compare them with the files the session's smoke build
wrote (tests/conftest.py: smoke_all), so a change in what the code writes fails here until the page
follows. The fast test checks the page's path patterns against robustrepro.paths, both ways.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

from robustrepro import paths

PAGE = ROOT / "docs" / "results.md"
SCALE = "smoke"
PLACEHOLDER = re.compile(r"\{[^}]*\}")


# ---- reading the page ----

def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables() -> dict[str, dict[str, str]]:
    """heading -> {name: present} of the first key/column table under that heading."""
    out: dict[str, dict[str, str]] = {}
    heading, lines = None, PAGE.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and heading is not None and heading not in out:
            header = [c.lower() for c in _cells(line)]
            if header[0] in ("key", "column"):
                present = header.index("present")
                rows, i = {}, i + 2  # past the header and the |---| line
                while i < len(lines) and lines[i].startswith("|"):
                    cells = _cells(lines[i])
                    name = re.fullmatch(r"`([^`]+)`", cells[0])
                    assert name, f"{PAGE.name}, under {heading!r}: the first cell {cells[0]!r} is no name in backticks"
                    rows[name.group(1)] = cells[present]
                    i += 1
                out[heading] = rows
                continue
        i += 1
    return out


def table(fragment: str) -> dict[str, str]:
    """The table under the one heading that contains `fragment`."""
    found = {h: rows for h, rows in tables().items() if fragment in h}
    assert len(found) == 1, f"{PAGE.name}: expected one table under a heading with {fragment!r}, found {list(found)}"
    return next(iter(found.values()))


def always(rows: dict[str, str]) -> set[str]:
    return {name for name, present in rows.items() if present == "always"}


def json_keys(obj: dict, documented, prefix: str = "") -> set[str]:
    """The keys of `obj` as the page writes them: dotted, descending only where the page lists keys below."""
    level = [d for d in documented if re.fullmatch(re.escape(prefix) + r"\{[^}.]+\}", d)]
    out = set()
    for key, value in obj.items():
        name = level[0] if level else prefix + key
        out.add(name)
        if isinstance(value, dict) and any(d.startswith(name + ".") for d in documented):
            out |= json_keys(value, documented, name + ".")
        elif isinstance(value, list) and any(d.startswith(name + "[].") for d in documented):
            for item in value:
                out |= json_keys(item, documented, name + "[].")
    return out


def check(real: set[str], rows: dict[str, str], what: str) -> None:
    missing, extra = always(rows) - real, real - set(rows)
    assert not missing, f"{what}: the page says these are always there, the file lacks them: {sorted(missing)}"
    assert not extra, f"{what}: not on {PAGE.name}: {sorted(extra)}"


def check_json(path: Path, rows: dict[str, str]) -> set[str]:
    keys = json_keys(json.loads(path.read_text()), set(rows))
    check(keys, rows, str(path))
    return keys


def columns(path: Path) -> list[str]:
    return list(pd.read_csv(path, nrows=0).columns)


# ---- paths: the page's patterns and robustrepro.paths ----

def _normal(pattern: str) -> str:
    pattern = PLACEHOLDER.sub("{}", pattern)
    return re.sub(r"^results/(smoke|quick|paper)(/|$)", r"results/{}\2", pattern)


def _argument(name: str) -> str:
    return {"folder": "resources/prepared"}.get(name, "{%s}" % name)


def _function(module: str, name: str):
    """A small top-level function of a module of the package, defined alone: importing robustrepro.training
    (torch) would take longer than the fast tier allows."""
    source = (ROOT / "src" / "robustrepro" / module).read_text()
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    scope = {"Path": Path}
    exec(compile("from __future__ import annotations\n" + ast.get_source_segment(source, node), module, "exec"), scope)
    return scope[name]


def code_patterns() -> set[str]:
    """Every file pattern of robustrepro.paths (each function called with placeholders), and the files the
    code writes beside those: snapshots and the lock beside a checkpoint, the record beside a prepared file,
    steps.csv and orderings.csv in a run's folder (pdflatex's own files go to a scratch folder). Folders are left out."""
    from robustrepro.data.prepared import record_path

    snapshot_path = _function("training/checkpoint.py", "snapshot_path")
    lock_path = _function("training/lock.py", "lock_path")
    found = set()
    for name, func in inspect.getmembers(paths, inspect.isfunction):
        if func.__module__ != paths.__name__:
            continue
        params = inspect.signature(func).parameters
        if "ext" in params:
            found |= {func(*[_argument(p) for p in params if p != "ext"], ext) for ext in (".tex", ".csv", ".pdf", ".png")}
        else:
            found.add(func(*[_argument(p) for p in params]))
    # Files only: a folder (no suffix) shows in its files' paths, a bare name (checkpoint_name) in its path's.
    found = {p for p in found if "/" in p and "." in p.rsplit("/", 1)[1]}
    checkpoint = paths.checkpoint("{scale}", "{run id}")
    found |= {str(snapshot_path(checkpoint, tag)) for tag in (7, "best", "final")}
    found |= {str(lock_path(checkpoint)), str(record_path(paths.prepared("resources/prepared", "{dataset}")))}
    for module, name in (("training/run_job.py", "steps.csv"), ("training/perfect_ordering.py", "orderings.csv")):
        assert f'"{name}"' in (ROOT / "src" / "robustrepro" / module).read_text(), f"{module} writes no {name} now"
        found.add(f"{paths.run_dir('{scale}', '{run id}')}/{name}")
    assert "-output-directory" in (ROOT / "rules" / "report.smk").read_text(), "pdflatex writes beside report.tex"
    return {_normal(p).replace(".e7.pt", ".e{}.pt") for p in found}


def page_paths() -> set[str]:
    """Every path in backticks on the page that starts with results/ or resources/."""
    return {p for p in re.findall(r"`([^`\s]+)`", PAGE.read_text()) if p.startswith(("results/", "resources/"))}


def path_table() -> list[str]:
    """The patterns of the page's table of every path."""
    text = PAGE.read_text().split("## Every path", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", text, re.M)


def _segments(pattern: str) -> re.Pattern:
    """A pattern whose {} (a placeholder) stands for any text within one path segment."""
    return re.compile("[^/]+".join(re.escape(part) for part in pattern.split("{}")) + "/?")


def test_every_path_on_the_page_is_one_the_code_writes_and_every_path_of_the_code_is_on_it():
    code = code_patterns()
    folders = {p.rsplit("/", i)[0] for p in code for i in range(1, p.count("/") + 1)}
    known = [_segments(p) for p in code | folders]
    unknown = sorted(p for p in page_paths() if not any(k.fullmatch(_normal(p)) for k in known))
    assert not unknown, f"{PAGE.name} names paths that neither robustrepro.paths nor a rule writes: {unknown}"
    assert len(path_table()) == len(set(path_table())), "a pattern is listed twice in the table of every path"
    listed = [_normal(p) for p in path_table()]
    absent = sorted(c for c in code if not any(_segments(c).fullmatch(p) for p in listed))
    assert not absent, f"{PAGE.name}'s table of every path lacks these patterns of the code: {absent}"


# ---- the smoke build ----

@pytest.fixture(scope="module")
def built(smoke_all) -> Path:
    return smoke_all


def results(workdir: Path) -> Path:
    return workdir / "results" / SCALE


def _regex(pattern: str) -> re.Pattern:
    parts = PLACEHOLDER.split(pattern)
    return re.compile("[^/]+".join(re.escape(p) for p in parts))


@pytest.mark.slow
def test_every_file_of_the_build_is_on_the_page_and_every_pattern_is_built(built):
    """Every file under results/smoke, resources and the prepared folder matches a pattern of the table of every path,
    and every pattern (but the download's, which synthetic data does not need) matches a file."""
    patterns = {p: _regex(p.replace("{scale}", SCALE).replace("resources/prepared/", "prepared/"))
                for p in path_table()}
    files = [f.relative_to(built).as_posix() for top in (results(built), built / "resources", built / "prepared")
             for f in top.rglob("*") if f.is_file()]
    assert files
    unmatched = sorted(f for f in files if not any(r.fullmatch(f) for r in patterns.values()))
    assert not unmatched, f"files of the smoke build that {PAGE.name} does not list: {unmatched[:20]}"
    # No download at smoke scale (synthetic data); no report.pdf and pdflatex's files without pdflatex.
    unneeded = ("download",) if shutil.which("pdflatex") else (
        "download", "report.pdf", "report-pdf")
    unbuilt = sorted(p for p, r in patterns.items()
                     if not any(u in p for u in unneeded) and not any(r.fullmatch(f) for f in files))
    assert not unbuilt, f"patterns on {PAGE.name} that the smoke build of all wrote no file for: {unbuilt}"


# Each JSON record the build writes: the heading of its table on the page, and where the smoke build of
# all leaves such records (it makes at least one of each: packs with `pack: true`, evaluations in
# ordering-augment, vectors and set covers in robust-clustering).
JSON_RECORDS = [
    ("Prepared record", "prepared/*.npz.json"),
    ("Pack record", f"results/{SCALE}/packs/*.json"),
    ("Run lock", f"results/{SCALE}/checkpoints/*.lock"),
    ("Vectors record", f"results/{SCALE}/vectors/*.json"),
    ("Set-cover record", f"results/{SCALE}/clusters/*.json"),
    ("Evaluation:", f"results/{SCALE}/evals/*.json"),
]


@pytest.mark.slow
@pytest.mark.parametrize("heading, pattern", JSON_RECORDS, ids=[h.rstrip(":") for h, _ in JSON_RECORDS])
def test_each_json_record_holds_the_keys_of_its_table(built, heading, pattern):
    rows = table(heading)
    found = sorted(built.glob(pattern))
    assert found, f"the smoke build wrote no {pattern}"
    for path in found:
        check_json(path, rows)


@pytest.mark.slow
def test_views_and_their_records(built):
    arrays, record = table("View arrays"), table("View record")
    views = sorted((results(built) / "views").glob("*.npz"))
    assert views
    for path in views:
        with np.load(path) as z:
            check(set(z.files), arrays, str(path))
        check_json(path.with_suffix(".json"), record)


def _run_dirs(workdir: Path) -> list[Path]:
    dirs = sorted(p for p in (results(workdir) / "runs").iterdir() if p.is_dir())
    assert dirs
    return dirs


@pytest.mark.slow
def test_run_metrics_histories_and_step_logs(built):
    metrics, history, steps = table("Run metrics"), table("Run history"), table("Step log")
    every = {"metrics": table("Every-order metrics"), "history": table("Every-order history"),
             "orderings": table("Every order trained")}
    seen = {"steps": 0, "orderings": 0, "plain": 0}
    for folder in _run_dirs(built):
        run = json.loads((folder / "metrics.json").read_text())["provenance"]["run"]
        if run["orderings"] is not None:
            seen["orderings"] += 1
            check_json(folder / "metrics.json", every["metrics"])
            check(set(columns(folder / "history.csv")), every["history"], str(folder / "history.csv"))
            check(set(columns(folder / "orderings.csv")), every["orderings"], str(folder / "orderings.csv"))
            continue
        seen["plain"] += 1
        keys = check_json(folder / "metrics.json", metrics)
        cols = columns(folder / "history.csv")
        check(set(cols), history, str(folder / "history.csv"))
        # metrics.json holds the reported epoch's row, but for its time
        assert set(cols) - {"time_s"} <= keys, f"{folder}: history.csv columns missing from metrics.json"
        assert not (folder / "orderings.csv").exists()
        assert (folder / "steps.csv").exists() == (run["step_log"] is not None), folder
        if run["step_log"] is not None:
            seen["steps"] += 1
            check(set(columns(folder / "steps.csv")), steps, str(folder / "steps.csv"))
        has_val = run["validation"] != "none"
        assert ("val_acc1" in cols) == has_val, f"{folder}: val columns, validation {run['validation']!r}"
    assert all(seen.values()), f"the smoke build lacks a kind of run the page documents: {seen}"


def _papers():
    from robustrepro.papers import all_papers

    return all_papers()


@pytest.mark.slow
def test_group_csvs(built):
    """The fixed columns are there; every other column is a grid coordinate of the group, a key the page
    documents for metrics.json, or <evaluation>_<suffix> with exactly the page's suffixes."""
    rows = table("Group table")
    fixed = always(rows)
    suffixes = {name.removeprefix("{evaluation}_") for name in rows if name.startswith("{evaluation}_")}
    metric_keys = set(table("Run metrics")) | set(table("Every-order metrics"))
    assert {"group", "seed", "run_id", "code"} <= fixed and suffixes
    evaluated = 0
    for paper in _papers():
        for group in paper.groups:
            path = results(built) / paper.slug / "groups" / f"{group.name}.csv"
            if not path.is_file():
                continue
            cols = columns(path)
            assert fixed <= set(cols), f"{path}: lacks {sorted(fixed - set(cols))}"
            coords = set(group.coord_names(SCALE))
            names = set(group.evaluation_specs(SCALE))
            per_evaluation = {n: {c.removeprefix(f"{n}_") for c in cols if c.startswith(f"{n}_")} for n in names}
            for name, found in per_evaluation.items():
                assert found == suffixes, f"{path}: evaluation {name}'s columns {sorted(found)}, page {sorted(suffixes)}"
            evaluated += bool(names)
            taken = fixed | coords | {f"{n}_{s}" for n in names for s in suffixes}
            other = [c for c in cols if c not in taken and c not in metric_keys]
            assert not other, f"{path}: columns the page does not account for: {other}"
            assert cols[0] == "group" and cols.index("seed") < cols.index("run_id") < cols.index("code"), cols
    assert evaluated, "no group of the smoke build has evaluations"


@pytest.mark.slow
def test_comparison_claims_and_runs_tables(built):
    comparison, claims, runs = table("Comparison:"), table("Claims:"), table("Runs:")
    assert set(comparison) == always(comparison)
    from robustrepro.runs import DEFAULT_RUN

    for paper in _papers():
        folder = results(built) / paper.slug
        assert columns(folder / "comparison.csv") == list(comparison), folder / "comparison.csv"
        cols = columns(folder / "claims.csv")
        assert [c for c in cols if c in always(claims)] == [c for c in claims if claims[c] == "always"], (
            f"{folder / 'claims.csv'}: columns {cols}, the page's in its order {list(claims)}")
        check(set(cols), claims, str(folder / "claims.csv"))
        cols = columns(folder / "runs.csv")
        assert always(runs) <= set(cols), folder / "runs.csv"
        coords = {c for g in paper.groups for c in g.coord_names(SCALE)}
        other = [c for c in cols if c not in runs and c not in coords and c.split(".")[0] not in DEFAULT_RUN]
        assert not other, f"{folder / 'runs.csv'}: columns that are no run key: {other}"
        assert cols[:2] == ["group", "run_id"], cols


@pytest.mark.slow
def test_download_manifest(shared_data, tmp_path):
    """The download job's manifest, from the real MNIST files in ../shared/data (verified, not downloaded)."""
    manifest = tmp_path / "mnist.json"
    proc = subprocess.run([sys.executable, "-m", "robustrepro", "fetch", "--dataset", "mnist", "--root",
                           str(tmp_path / "data"), "--shared-root", str(shared_data), "--manifest", str(manifest),
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_json(manifest, table("Download manifest"))
