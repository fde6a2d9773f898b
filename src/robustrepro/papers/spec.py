"""What a paper spec is made of: run groups, targets, reported numbers and claims.

A paper module (robustrepro/papers/<paper>.py) declares one `Paper`. The workflow expands its
run groups into runs at the configured scale, trains each run once (run ids dedupe across
groups and papers), evaluates the runs of groups that declare evaluations (an attack, a
defence: robustrepro.evaluation.spec), collects their metrics and evaluations into
`results/{scale}/{paper}/groups/<group>.csv`, and builds each target with its builder
function. A paper module imports no torch (Snakemake imports every spec when it parses the
workflow, once per cluster job too); matplotlib is loaded only when a figure is drawn.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from robustrepro.errors import UserError, unknown_choice
from robustrepro.evaluation.spec import (check_name, check_snapshot, evaluation_id, merge_evaluation,
                                         resolve_evaluation)
from robustrepro.run_checks import check_evaluation, check_run
from robustrepro.runs import resolve, run_id
from robustrepro.scales import SCALES, at_scale


def set_dotted(run: dict, key: str, value) -> dict:
    """A copy of `run` with `key` ("optimizer.lr") set to value, creating dicts on the way."""
    head, _, rest = key.partition(".")
    out = dict(run)
    out[head] = set_dotted(dict(run.get(head) or {}), rest, value) if rest else value
    return out


def get_dotted(run: dict, key: str):
    for part in key.split("."):
        run = run[part]
    return run


@dataclass(frozen=True)
class RunGroup:
    """A grid of runs: `base` at the paper's settings, varied over `grid` (dotted key -> values).

    `overrides[scale]` is merged into every run at that scale (see robustrepro.scales), and
    `grids[scale]` replaces some grid axes at that scale (e.g. fewer alphas for `quick`).
    Every run is repeated for each seed (the first `max_seeds` of them, where set).

    `evaluations` measures every run of the group after training: name -> evaluation spec
    (robustrepro.evaluation.spec), e.g. {"pgd": {"attack": {"name": "pgd", "eps": 8 / 255}}}; the
    collected results get the columns <name>_acc1, <name>_clean_acc1, <name>_loss, <name>_clean_loss
    and <name>_n (robustrepro.report.results).
    `evaluation_overrides[scale][name]` is merged into that evaluation at that scale (e.g. smoke:
    {"pgd": {"subset": 200, "attack": {"iterations": 2}}}); evaluations do not change run ids.
    """

    name: str
    base: dict
    grid: dict[str, list] = field(default_factory=dict)
    overrides: dict[str, dict] = field(default_factory=dict)
    grids: dict[str, dict[str, list]] = field(default_factory=dict)
    evaluations: dict[str, dict] = field(default_factory=dict)
    evaluation_overrides: dict[str, dict[str, dict]] = field(default_factory=dict)
    # At most this many of the configured seeds (the first): for an experiment the paper ran once and
    # that is costly to repeat (seed 004's brute-force orderings); None: every seed.
    max_seeds: int | None = None

    def axes(self, scale: str) -> dict:
        """The grid at this scale. A key may be a tuple of dotted keys whose values move together
        (e.g. ("noise.alpha", "epochs") -> [(0, 20), (50, 2)]); it replaces the axes it names."""
        scaled = self.grids.get(scale, {})
        named = {k for key in scaled for k in _names(key)}
        return {**{k: v for k, v in self.grid.items() if k not in named}, **scaled}

    def coord_names(self, scale: str) -> list[str]:
        return [k for key in self.axes(scale) for k in _names(key)]

    def points(self, scale: str, seeds: list[int]) -> list[tuple[dict, dict]]:
        """(coordinates, resolved run) for every grid point and seed at this scale."""
        axes = self.axes(scale)
        seeds = seeds[:self.max_seeds] if self.max_seeds is not None else seeds
        out = []
        for values in itertools.product(*axes.values()):
            coords = {}
            for key, value in zip(axes, values):
                coords.update(zip(key, value) if isinstance(key, tuple) else [(key, value)])
            run = self.base
            for key, value in coords.items():
                run = set_dotted(run, key, value)
            for seed in seeds:
                out.append(({**coords, "seed": seed}, at_scale({**run, "seed": seed}, scale, self.overrides)))
        return out

    def evaluation_specs(self, scale: str) -> dict[str, dict]:
        """Each evaluation of the group, resolved at this scale (name -> spec)."""
        scaled = self.evaluation_overrides.get(scale, {})
        for name in scaled:
            if name not in self.evaluations:
                raise UserError(f"run group {self.name}: evaluation_overrides[{scale!r}] names evaluation {name!r}, "
                                f"which the group does not declare; its evaluations: "
                                f"{', '.join(sorted(self.evaluations)) or 'none'}")
        specs = {}
        for name, spec in self.evaluations.items():
            try:
                check_name(name)
                specs[name] = resolve_evaluation(merge_evaluation(spec, scaled.get(name, {})))
            except UserError as err:
                raise UserError(f"run group {self.name}, evaluation {name} at {scale} scale: {err}") from None
        return specs


def _names(key) -> tuple[str, ...]:
    return key if isinstance(key, tuple) else (key,)


@dataclass(frozen=True)
class Target:
    """One table or figure: build(results, ctx) returns what to write (see robustrepro.report.targets)."""

    name: str
    kind: str  # "table" or "figure"
    groups: tuple[str, ...]
    build: Callable
    caption: str
    # A run group of the paper whose dataset's prepared training images the builder reads
    # (ctx.images(), e.g. a figure of example images): the dataset of the group's first run at the
    # target's scale. It need not be one of `groups`, so the images wait for no training.
    images: str | None = None

    def outputs(self) -> tuple[str, ...]:
        return (".tex", ".csv") if self.kind == "table" else (".pdf", ".png", ".csv")


class Targets(list):
    """A paper's targets, each declared once, on its builder::

        TARGETS = Targets()

        @TARGETS("figure1", groups=("alpha-grid",), caption="Accuracy vs alpha")
        def figure1(ctx): ...

    The kind (table or figure) is the name's prefix; `TARGETS.add(...)` declares a builder made by a
    function (one per figure of a family)."""

    def __call__(self, name: str, caption: str, groups: Iterable[str] = (), images: str | None = None):
        def declare(build: Callable) -> Callable:
            self.add(name, build, caption, groups, images)
            return build
        return declare

    def add(self, name: str, build: Callable, caption: str, groups: Iterable[str] = (),
            images: str | None = None) -> None:
        kind = next((k for k in TARGET_NAMES if name.startswith(k)), None)
        if kind is None:
            raise ValueError(f"target {name!r}: a target's name starts with 'table' or 'figure'")
        self.append(Target(name, kind, tuple(groups), build, caption, images))


@dataclass(frozen=True)
class Reported:
    """A number the paper printed, at grid coordinates of one group, for one metric (in %)."""

    target: str
    group: str
    where: dict  # grid coordinates, e.g. {"model.name": "conv4", "noise.alpha": 100}
    metric: str  # a column of runs.csv, e.g. "test_acc1"
    value: float
    note: str = ""
    select: str = "mean"  # "mean" over seeds at `where`, or "best:<axis>" (best over that axis first)
    method: str = ""  # the paper's row or scheme label, where a table compares methods ("FL only")
    # A number the paper read off a curve part-way through training ("50 % at 40K of 80K iterations"):
    # the share of each run's steps at which to read `metric` from its steps.csv (the last evaluation
    # point at or before it), instead of the run's final metrics. Runs need a step_log that evaluates.
    at: float | None = None
    # A number the paper printed for one epoch of training (seed 004's per-epoch tables): read `metric`
    # from each run's history.csv at that epoch instead of its final metrics.
    epoch: int | None = None
    # Whether `metric` is a fraction the paper printed in % (accuracies: reproduced x 100); a loss is not.
    percent: bool = True
    # Whether the paper printed the complement, 100 - metric in % (seed 004's error rates of an accuracy):
    # reproduced as 100 - 100 x metric, so that like is compared with like.
    error: bool = False
    # The ± the paper printed beside its number (its spread over seeds), shown beside the reproduced std.
    spread: float | None = None
    # A ratio the paper printed ("three times that of the baseline"): `metric` at `where` over `metric`
    # at `over` (grid coordinates of `over_group`, by default the same group), per seed; give percent=False.
    over: dict | None = None
    over_group: str | None = None
    # With `over`: the relative error reduction the paper printed instead of the ratio, in %:
    # 100 x (1 - (1 - metric) / (1 - metric at over)), e.g. seed 004's figure 3.6; keep percent=True.
    reduction: bool = False


@dataclass(frozen=True)
class Claim:
    """A qualitative finding, checked on the reproduced numbers: check(results) -> (holds, evidence).

    `results` maps each group to its collected runs (robustrepro.report.results.collect). A claim
    about the course of training names the groups whose per-epoch histories it reads in
    `histories`; its check is then called as check(results, histories), with histories mapping
    those groups to their stacked history.csv files (robustrepro.report.results.histories). A claim
    about curves against optimizer steps names its groups in `step_logs` instead (their runs'
    stacked steps.csv) and is called as check(results, step_logs); with both, as
    check(results, histories, step_logs).
    """

    name: str
    statement: str
    check: Callable
    histories: tuple[str, ...] = ()
    step_logs: tuple[str, ...] = ()
    # Numbers the check must reject and numbers like the paper's it must accept, built from the paper's
    # sentence: each a function of no arguments that returns evaluate's arguments ((results,),
    # (results, histories), ...; see robustrepro.papers.cases). The contract test runs them for every
    # claim of every paper, and fails a claim with no failing case: a check nothing can fail checks nothing.
    must_fail: tuple[Callable, ...] = ()
    must_hold: tuple[Callable, ...] = ()
    # A finding this harness checks that the paper does not state (shown as an extension in claims.csv).
    extension: bool = False
    # The verdict "holds" needs the claim to hold on the mean over seeds and on at least this many
    # seeds' runs alone (say so in the statement); 0: the mean decides, the seed count is only shown.
    min_seeds: int = 0

    def evaluate(self, results: dict, histories: dict | None = None,
                 step_logs: dict | None = None) -> tuple[bool, str]:
        args = [results]
        for what, groups, given in (("histories", self.histories, histories), ("step logs", self.step_logs, step_logs)):
            if not groups:
                continue
            missing = [g for g in groups if given is None or g not in given]
            if missing:
                raise ValueError(f"claim {self.name} reads the {what} of {', '.join(missing)}; none were given")
            args.append({g: given[g] for g in groups})
        return self.check(*args)


# What the workflow's table and figure rules build (their wildcard constraints say the same).
TARGET_NAMES = {"table": r"table[0-9_]+", "figure": r"figure[0-9_]+"}


@dataclass(frozen=True)
class Paper:
    slug: str
    seed_file: str
    title: str
    groups: tuple[RunGroup, ...]
    targets: tuple[Target, ...]
    reported: tuple[Reported, ...] = ()
    claims: tuple[Claim, ...] = ()

    def group(self, name: str) -> RunGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise unknown_choice(f"paper {self.slug}: run group", name, [g.name for g in self.groups])

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise unknown_choice(f"paper {self.slug}: target", name, [t.name for t in self.targets])

    def images_dataset(self, target: Target, scale: str) -> str | None:
        """The dataset whose prepared images `target` reads at `scale` (None: it reads none)."""
        if target.images is None:
            return None
        return self.group(target.images).points(scale, [0])[0][1]["dataset"]

    def configs(self, scale: str, groups: Iterable[str], seeds: Iterable[int] = (0,)) -> list[dict]:
        """The resolved run configs of `groups` at `scale` (what the runs train with: their ids hash them)."""
        groups = set(groups)
        return [row["run"] for row in self.runs(scale, list(seeds)) if row["group"] in groups]

    def runs(self, scale: str, seeds: list[int]) -> list[dict]:
        """One row per (group, grid point, seed): group, coordinates, run id and the resolved run."""
        rows = []
        for group in self.groups:
            for coords, run in group.points(scale, seeds):
                rows.append({"group": group.name, "coords": coords, "run_id": run_id(run), "run": run})
        return rows

    def evaluations(self, scale: str, seeds: list[int]) -> list[dict]:
        """One row per (run, evaluation of its group): group, coordinates, run id, the
        evaluation's name, its id and its resolved spec."""
        try:
            specs = {group.name: group.evaluation_specs(scale) for group in self.groups}
        except UserError as err:
            raise UserError(f"{self.slug}: {err}") from None
        if not any(specs.values()):
            return []  # no run is expanded for nothing: the workflow asks this of every paper at parse time
        rows = []
        for row in self.runs(scale, seeds):
            for name, spec in specs[row["group"]].items():
                try:
                    check_snapshot(spec, row["run"])
                    check_evaluation(spec, row["run"])
                except UserError as err:
                    raise UserError(f"{self.slug}: run group {row['group']}, evaluation {name} at {scale} scale: "
                                    f"{err}") from None
                rows.append({"group": row["group"], "coords": row["coords"], "run_id": row["run_id"], "name": name,
                             "eval_id": evaluation_id(row["run_id"], spec), "spec": spec})
        return rows

    def validate(self, scales: Iterable[str] = SCALES) -> None:
        """Raise a one-line UserError naming the first inconsistency of this spec.

        The workflow calls it for every paper at the configured scale when it is parsed, so a
        mistake in a spec (a target of an unknown group, a name no rule builds, a run config that
        does not resolve, a group without runs, a value no job could train with: robustrepro.run_checks)
        stops the build before any job runs; the tests check every scale."""
        def fail(message: str):
            raise UserError(f"paper {self.slug}: {message}")

        names = [t.name for t in self.targets]
        known = {g.name for g in self.groups}
        for name in {n for n in names if names.count(n) > 1}:
            fail(f"two targets are named {name!r}; give each its own name")
        for group in {g.name for g in self.groups if [h.name for h in self.groups].count(g.name) > 1}:
            fail(f"two run groups are named {group!r}; give each its own name")
        for t in self.targets:
            if t.kind not in TARGET_NAMES:
                fail(f"target {t.name}: kind {t.kind!r} is neither 'table' nor 'figure'")
            if not re.fullmatch(TARGET_NAMES[t.kind], t.name):
                fail(f"target {t.name}: a {t.kind}'s name is '{t.kind}' and digits or underscores "
                     f"(e.g. {t.kind}2_1), which the workflow's {t.kind} rule builds")
            if unknown := sorted(set(t.groups) - known):
                fail(f"target {t.name} reads unknown run groups {', '.join(unknown)}; groups: {', '.join(sorted(known))}")
            if t.images is not None and t.images not in known:
                fail(f"target {t.name}: images names run group {t.images!r}, which the paper does not declare; "
                     f"name one of: {', '.join(sorted(known))}")
        for r in self.reported:
            if r.group not in known or r.target not in names:
                fail(f"a reported value names target {r.target!r} and group {r.group!r}: "
                     "both must be declared in the spec")
            if r.epoch is not None and (r.at is not None or isinstance(r.epoch, bool) or not isinstance(r.epoch, int)
                                        or r.epoch < 1):
                fail(f"a reported value of target {r.target} has epoch={r.epoch!r}: give the epoch (an integer >= 1) "
                     "whose history.csv row holds it, and no `at`")
            if r.over is not None and (r.percent != r.reduction or r.error or not isinstance(r.over, dict)
                                       or r.at is not None or r.epoch is not None):
                fail(f"a reported value of target {r.target} has over={r.over!r}: a ratio (or, with reduction=True, "
                     "an error reduction) is a mapping of grid coordinates, read from the final metrics, with "
                     "error=False and percent=False for a ratio, percent=True for a reduction")
            if (r.reduction or r.over_group is not None) and r.over is None:
                fail(f"a reported value of target {r.target} sets reduction or over_group without over: name the "
                     "grid coordinates it is relative to in over")
            if r.over_group is not None and r.over_group not in known:
                fail(f"a reported value of target {r.target} has over_group {r.over_group!r}, which the paper does "
                     f"not declare; groups: {', '.join(sorted(known))}")
            if r.error and not r.percent:
                fail(f"a reported value of target {r.target} has error=True and percent=False: an error rate is "
                     "100 - the metric in %, so it needs percent=True")
            if r.at is not None and (isinstance(r.at, bool) or not isinstance(r.at, (int, float))
                                     or not 0 < r.at <= 1):
                fail(f"a reported value of target {r.target} has at={r.at!r}: give the share of the run's steps "
                     "at which to read it, in (0, 1]")
        claim_names = [c.name for c in self.claims]
        for name in {n for n in claim_names if claim_names.count(n) > 1}:
            fail(f"two claims are named {name!r}; give each its own name")
        for c in self.claims:
            if unknown := sorted(set(c.histories) - known):
                fail(f"claim {c.name} reads the histories of unknown run groups {', '.join(unknown)}")
            if unknown := sorted(set(c.step_logs) - known):
                fail(f"claim {c.name} reads the step logs of unknown run groups {', '.join(unknown)}")
        for g in self.groups:
            if g.max_seeds is not None and (isinstance(g.max_seeds, bool) or not isinstance(g.max_seeds, int)
                                            or g.max_seeds < 1):
                fail(f"run group {g.name}: max_seeds is {g.max_seeds!r}; give an integer >= 1, or None for every seed")
        for scale in scales:
            for g in self.groups:
                # A group without runs would reach its CSV's job and fail there, on an empty table.
                if empty := [key for key, values in g.axes(scale).items() if not len(values)]:
                    fail(f"run group {g.name} has no runs at {scale} scale: its grid axis {empty[0]!r} has no "
                         "values; give it at least one")
                try:
                    for _, run in g.points(scale, [0]):
                        check_run(resolve(run))
                except KeyError as err:
                    fail(f"run group {g.name} at {scale} scale: {err.args[0]}")
                except UserError as err:
                    fail(f"run group {g.name} at {scale} scale: {err}")
            self.evaluations(scale, [0])

