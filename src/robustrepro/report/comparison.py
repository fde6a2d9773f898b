"""Reported vs reproduced numbers, and the paper's claims checked on the reproduced runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustrepro.papers.spec import Paper, Reported
from robustrepro.analysis.stats import best_over
from robustrepro.report.results import histories, other_code
from robustrepro.files import atomic_write_text
from robustrepro.report.tables import latex_table, write_csv, write_table

# The papers print two decimals; the difference is taken between the rounded numbers, so that it
# reads straight off the row.
DIGITS = 2
LOSS_DIGITS = 3  # numbers not in % (losses): seed 004 prints three decimals
COLUMNS = ["target", "group", "method", "setting", "selection", "metric", "reported", "reported_std", "reproduced",
           "std", "n", "difference", "scale", "note"]


def _where(where: dict) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in where.items())


def _selection(rep: Reported) -> str:
    """How the reproduced number is chosen among the group's runs, in words."""
    when = "" if rep.at is None else f"at the last evaluation by {rep.at:.0%} of the steps (steps.csv), "
    if rep.epoch is not None:
        when = f"after epoch {rep.epoch} (history.csv), "
    if rep.select.startswith("best:"):
        axis = rep.select.removeprefix("best:").split(".")[-1]
        return f"best {axis} on validation, {when}then mean over seeds"
    if rep.over is not None:
        base = f"{rep.over_group + ': ' if rep.over_group else ''}{_where(rep.over)}"
        if rep.reduction:
            return f"per seed 1 - error / error at {base}, then mean over seeds"
        return f"{when}per seed the mean at the setting over the mean at {base}, then mean over seeds"
    return f"{when}mean over seeds"


def _same(column: pd.Series, value) -> pd.Series:
    return column.isna() if pd.isna(value) else column == value


def at_share(runs: pd.DataFrame, logs: pd.DataFrame, keys: list[str], metric: str, share: float) -> pd.Series:
    """`metric` of each run (a row of `runs`) at `share` of its steps: from its rows of the stacked
    step logs `logs` (matched on `keys`, the group's coordinates and seed), the last evaluation point
    at or before share * the run's steps_done. NaN where the log has none that early."""
    values = []
    for _, run in runs.iterrows():
        mask = logs[metric].notna()
        for key in keys:
            mask &= _same(logs[key], run[key])
        rows = logs[mask]
        done = run["steps_done"] if "steps_done" in run and pd.notna(run["steps_done"]) else rows["step"].max()
        rows = rows[rows["step"] <= share * done + 1e-9]
        values.append(rows.sort_values("step")[metric].iloc[-1] if len(rows) else float("nan"))
    return pd.Series(values, index=runs.index, dtype=float)


def at_epoch(runs: pd.DataFrame, history: pd.DataFrame, keys: list[str], metric: str, epoch: int) -> pd.Series:
    """`metric` of each run (a row of `runs`) after `epoch`, from its rows of the stacked histories
    `history` (matched on `keys`, the group's coordinates and seed). NaN where it did not train that long."""
    values = []
    for _, run in runs.iterrows():
        mask = history["epoch"] == epoch
        for key in keys:
            mask &= _same(history[key], run[key])
        rows = history.loc[mask, metric].dropna()
        values.append(rows.iloc[-1] if len(rows) else float("nan"))
    return pd.Series(values, index=runs.index, dtype=float)


def _values(paper: Paper, rep: Reported, where: dict, results: dict[str, pd.DataFrame], scale: str,
            step_logs: dict | None, histories: dict | None, group: str | None = None) -> pd.Series:
    """The reproduced values of `rep` at grid point `where` of `group` (default rep.group), one per run,
    indexed by the run's seed."""
    runs = results[group or rep.group]
    if rep.select.startswith("best:"):
        runs = best_over(runs, rep.select.removeprefix("best:"), keys=list(where))
    for key, value in where.items():
        runs = runs[runs[key] == value]
    keys = [*paper.group(group or rep.group).coord_names(scale), "seed"]
    if rep.epoch is not None:
        if histories is None or rep.group not in histories:
            raise ValueError(f"the reported value of {rep.target} ({_where(where)}) is read from the "
                             f"histories of group {rep.group}; none were given")
        values = at_epoch(runs, histories[rep.group], keys, rep.metric, rep.epoch)
    elif rep.at is None:
        values = runs[rep.metric]
    else:
        if step_logs is None or rep.group not in step_logs:
            raise ValueError(f"the reported value of {rep.target} ({_where(where)}) is read from the step "
                             f"logs of group {rep.group}; none were given")
        values = at_share(runs, step_logs[rep.group], keys, rep.metric, rep.at)
    return pd.Series(values.to_numpy(dtype=float), index=runs["seed"].to_numpy()).dropna()


def comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str,
               step_logs: dict[str, pd.DataFrame] | None = None,
               histories: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per reported number: the reproduced mean ± std over seeds (in % where the paper printed
    %), n and the difference. `step_logs` (group -> stacked steps.csv) is needed only for numbers read
    part-way (Reported.at), `histories` (group -> stacked history.csv) for those of one epoch (Reported.epoch).
    A ratio the paper printed (Reported.over) is reproduced seed by seed: the mean at `where` over the
    mean at `over` of that seed's runs."""
    rows = []
    for rep in paper.reported:
        values = pd.Series(dtype=float)  # a group not built (its data missing here) counts as not run
        if rep.group in results and (rep.over_group or rep.group) in results:
            values = _values(paper, rep, rep.where, results, scale, step_logs, histories)
            if rep.over is not None:
                over = _values(paper, rep, rep.over, results, scale, step_logs, histories, rep.over_group)
                values, over = values.groupby(level=0).mean(), over.groupby(level=0).mean()
                values = (1 - (1 - values) / (1 - over) if rep.reduction else values / over).dropna()
            values = values * (100 if rep.percent else 1)
            if rep.error:
                values = 100 - values
        n = len(values)
        digits = DIGITS if rep.percent else LOSS_DIGITS
        mean = round(values.mean(), digits) if n else float("nan")
        rows.append({
            "target": rep.target, "group": rep.group, "method": rep.method,
            # A group without a grid point named is compared as a whole: say so rather than leave it blank.
            "setting": _where(rep.where) or "all runs of the group", "selection": _selection(rep),
            "metric": rep.metric if rep.over is None else f"{rep.metric} {'error reduction' if rep.reduction else 'ratio'}",
            "reported": rep.value,
            "reported_std": rep.spread if rep.spread is not None else float("nan"), "reproduced": mean,
            "std": round(values.std(), digits) if n > 1 else float("nan"), "n": n,
            "difference": round(mean - rep.value, digits), "scale": scale,
            "note": rep.note if n else f"{rep.note}; not run at {scale} scale".lstrip("; "),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def claims(paper: Paper, results: dict[str, pd.DataFrame], histories: dict[str, pd.DataFrame] | None = None,
           step_logs: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Each claim checked: holds or not, and the numbers that say so. `histories` (group -> stacked
    history.csv) is needed only for the claims that name groups in Claim.histories, `step_logs`
    (group -> stacked steps.csv) for those that name groups in Claim.step_logs.

    The verdict is on the mean over seeds; `seeds` says on how many seeds' runs alone the claim
    holds ("2 of 3"), so that a verdict resting on one lucky seed shows, and a claim with min_seeds
    holds only when that many do. A claim that needs a group missing from `results` (not built, e.g.
    its data cannot be had here) is neither held nor failed: `holds` is None and the evidence says
    it was not checked."""
    known = {g.name for g in paper.groups}
    rows = []
    for claim in paper.claims:
        absent = [g for g in (*claim.histories, *claim.step_logs) if g not in results]
        seeds = ""
        try:
            if absent:
                raise KeyError(absent[0])
            holds, evidence = claim.evaluate(results, histories, step_logs)
            held, checked = per_seed(claim, results, histories, step_logs)
            seeds = f"{held} of {checked}" if checked else "none alone"
            if holds and held < claim.min_seeds:
                holds = False
                evidence += f" (holds on {held} seeds' runs alone; the claim needs {claim.min_seeds})"
        except KeyError as exc:
            group = exc.args[0] if exc.args else None
            # Only a missing group is "not checked"; any other missing key is a bug in the claim.
            if not isinstance(group, str) or group not in known or group in results:
                raise
            holds, evidence = None, f"not checked: no results for group {group} (not built)"
        rows.append({"claim": claim.name, "statement": claim.statement, "finding": FINDING[claim.extension],
                     "holds": None if holds is None else bool(holds), "seeds": seeds, "evidence": evidence})
    return pd.DataFrame(rows, columns=["claim", "statement", "finding", "holds", "seeds", "evidence"])


FINDING = {False: "the paper's", True: "extension (not in the paper)"}


def _one_seed(frames: dict[str, pd.DataFrame] | None, seed) -> dict[str, pd.DataFrame] | None:
    """Each group's rows of one seed; a group that did not run that seed is left out."""
    if frames is None:
        return None
    return {g: frame[frame["seed"] == seed] for g, frame in frames.items()
            if "seed" in frame.columns and (frame["seed"] == seed).any()}


def per_seed(claim, results: dict[str, pd.DataFrame], histories=None, step_logs=None) -> tuple[int, int]:
    """(seeds on whose runs alone the claim holds, seeds it could be checked on). A seed that one of the
    claim's groups did not run (a group limited to fewer seeds) is not counted: the group is missing
    from that seed's results, and reading it fails."""
    seeds = sorted({s for frame in results.values() if "seed" in frame.columns for s in frame["seed"].unique()})
    held = checked = 0
    for seed in seeds:
        try:
            holds, _ = claim.evaluate(_one_seed(results, seed), _one_seed(histories, seed), _one_seed(step_logs, seed))
        except (KeyError, ValueError, IndexError):
            continue
        checked += 1
        held += bool(holds)
    return held, checked


def claim_histories(paper: Paper, results: dict[str, pd.DataFrame], scale: str,
                    runs_root: Path) -> dict[str, pd.DataFrame]:
    """The stacked histories of the groups the paper's claims and its per-epoch numbers read (each run's history.csv)."""
    wanted = sorted({g for claim in paper.claims for g in claim.histories if g in results}
                    | {r.group for r in paper.reported if r.epoch is not None and r.group in results})
    return {g: histories(results[g], runs_root, paper.group(g).coord_names(scale)) for g in wanted}


def read_step_logs(paper: Paper, results: dict[str, pd.DataFrame], scale: str,
                   runs_root: Path) -> dict[str, pd.DataFrame]:
    """The stacked steps.csv of the groups that the paper's claims (Claim.step_logs) and its numbers
    read part-way through training (Reported.at) need, among those built."""
    wanted = {g for claim in paper.claims for g in claim.step_logs} | {r.group for r in paper.reported
                                                                       if r.at is not None}
    return {g: histories(results[g], runs_root, paper.group(g).coord_names(scale), "steps.csv")
            for g in sorted(wanted) if g in results}


def write_comparison(paper: Paper, results: dict[str, pd.DataFrame], scale: str, out_dir: Path,
                     runs_root: Path | None = None) -> None:
    """comparison.csv/.tex (reported vs reproduced) and claims.csv/.tex (each finding: holds or fails).

    out_dir is results/{scale}/{paper}; runs_root defaults to results/{scale}/runs beside it, where
    the runs behind the group CSVs wrote their history.csv (the collect rule takes both files of every run
    as input, so they are there whenever the group CSVs are) and, runs with a step_log, their steps.csv.
    """
    out_dir = Path(out_dir)
    runs_root = out_dir.parent / "runs" if runs_root is None else Path(runs_root)
    step_logs = read_step_logs(paper, results, scale, runs_root)
    history_logs = claim_histories(paper, results, scale, runs_root)
    numbers = comparison(paper, results, scale, step_logs, history_logs)
    found = claims(paper, results, history_logs, step_logs)
    shown = found.assign(holds=found["holds"].map({True: "holds", False: "fails"}).fillna("not checked"))
    other, total = other_code(results)
    if other:  # results kept across a code change: said beside every verdict
        shown["code"] = f"{other} of {total} runs made by other code than this checkout's"
    compared = f"{paper.title}: reported (paper) vs reproduced (mean ± std over n seeds, %), {scale} scale"
    checked = f"{paper.title}: the paper's claims checked at {scale} scale"
    write_csv(numbers, out_dir / "comparison.csv")
    write_table(shown, out_dir / "claims", checked)
    # One file to \input: both tables, written once.
    atomic_write_text(out_dir / "comparison.tex", latex_table(numbers, compared) + "\n" + latex_table(shown, checked))
