"""What the workflow builds at a scale, by id: runs, views, set covers, evaluations and packs.

The rules ask a `Pipeline` (rules/common.smk makes one when Snakemake parses the workflow). Each
scale is expanded the first time it is asked for: the configured scale when `all` is built,
another only when a target of that scale is named. A run's id hashes its resolved config, so a run
that several targets (or papers) need is trained once; likewise views, vectors, set covers and
evaluations are named by what defines them. Every lookup of a name that does not exist raises one
UserError naming what does. Imports no torch: Snakemake parses the workflow for every cluster job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from robustrepro import clusterings, packs, paths
from robustrepro.config import seeds
from robustrepro.errors import UserError
from robustrepro.jobenv import device_kind
from robustrepro.papers.spec import Paper, Target
from robustrepro.runs import view_id, view_spec
from robustrepro.scales import SCALES


@dataclass
class Scale:
    """Everything the papers train and measure at one scale, by id."""

    name: str
    runs: dict[str, dict] = field(default_factory=dict)
    views: dict[str, dict] = field(default_factory=dict)
    vectors: dict[str, dict] = field(default_factory=dict)  # id -> spec, view and dataset of an extraction
    covers: dict[str, dict] = field(default_factory=dict)  # id -> spec and vectors id of a set cover
    evals: dict[str, dict] = field(default_factory=dict)  # id -> run id, spec and name of an evaluation


def expand(papers: list[Paper], scale: str, seeds: list[int]) -> Scale:
    """Every run, view, extraction, set cover and evaluation of `papers` at `scale`."""
    out = Scale(scale)
    out.runs = {row["run_id"]: row["run"] for paper in papers for row in paper.runs(scale, seeds)}
    _add_clusterings(out, papers, seeds)
    out.views = {view_id(run): view_spec(run) for run in out.runs.values()}
    out.evals = {row["eval_id"]: {"run_id": row["run_id"], "spec": row["spec"], "name": row["name"]}
                 for paper in papers for row in paper.evaluations(scale, seeds)}
    return out


def _add_clusterings(out: Scale, papers: list[Paper], seeds: list[int]) -> None:
    """The vectors and set cover of every run with a `clustering`, after checking its spec."""
    seed0 = None
    for rid, run in list(out.runs.items()):
        spec = run.get("clustering")
        if not spec:
            continue
        clusterings.check(spec)
        source = out.runs.get(spec["source"])
        if source is None:
            # A source run of a seed that is not configured (the seed-0 pretrained run when seeds=[1, 2])
            # is still trained: every seed's set cover comes from it.
            if seed0 is None:
                seed0 = {row["run_id"]: row["run"] for paper in papers for row in paper.runs(out.name, [0])}
            source = seed0.get(spec["source"])
            if source is None:
                raise UserError(f"clustering.source of run {rid}: {spec['source']} is no run at scale {out.name}; "
                                "name a run of one of the paper's groups at the same scale")
            out.runs[spec["source"]] = source
        missing = clusterings.missing_snapshots(spec, source)
        if missing:
            raise UserError(f"clustering.checkpoints of run {rid}: source run {spec['source']} keeps no "
                            f"snapshot of epochs {missing}; add them to its `snapshots`")
        view = view_id(run)
        vid, cid = clusterings.vectors_id(spec, view), clusterings.cluster_id(spec, view)
        out.vectors[vid] = {"spec": spec, "view": view, "dataset": run["dataset"]}
        out.covers[cid] = {"spec": spec, "vectors": vid}


def _find(table: dict, kind: str, name: str, scale: str, why: str = "no run of any paper uses it") -> dict:
    if name not in table:
        raise UserError(f"unknown {kind} '{name}' at scale {scale}: {why} (its id changes with its config: build a "
                        "target, not an old path)")
    return table[name]


class Pipeline:
    """The papers' runs and targets at every scale, expanded when a scale is first asked for.

    `pack` is config's pack setting and `device` the device runs train on (cpu or cuda): with
    `pack: auto` a grid point's runs that differ only in seed and lr train in one job on CUDA only."""

    def __init__(self, papers: list[Paper], seeds: list[int], pack="auto", device: str = "cpu"):
        self.papers = {paper.slug: paper for paper in papers}
        self.seeds = list(seeds)
        self.pack_setting = pack
        self.device = device

    # ---- names in a path ----

    def scale(self, name: str) -> Scale:
        if name not in SCALES:
            raise UserError(f"results/{name}: unknown scale '{name}'; scales: {', '.join(SCALES)}")
        return self._expanded(name)

    @functools.cache
    def _expanded(self, name: str) -> Scale:
        # Each spec is checked at a scale before its runs there are expanded: the configured scale when
        # the workflow is parsed, another when one of its targets is named.
        for paper in self.papers.values():
            paper.validate(scales=[name])
        return expand(list(self.papers.values()), name, self.seeds)

    def paper(self, scale: str, slug: str) -> Paper:
        self.scale(scale)
        if slug not in self.papers:
            raise UserError(f"results/{scale}/{slug}: '{slug}' is no paper; papers: {', '.join(sorted(self.papers))}")
        return self.papers[slug]

    def target(self, scale: str, slug: str, kind: str, name: str) -> Target:
        paper = self.paper(scale, slug)
        target = next((t for t in paper.targets if t.kind == kind and t.name == name), None)
        if target is None:
            listed = "; ".join(f"{t.name} ({' '.join(t.outputs())})" for t in paper.targets)
            raise UserError(f"{paper.slug} has no {kind} '{name}'; its targets: {listed}; "
                            "and comparison (.tex .csv), claims (.csv .tex)")
        return target

    def group(self, scale: str, slug: str, name: str):
        paper = self.paper(scale, slug)
        names = [g.name for g in paper.groups]
        if name not in names:
            raise UserError(f"{paper.slug} has no run group '{name}'; its groups: {', '.join(sorted(names))}")
        return paper.group(name)

    def run(self, scale: str, rid: str) -> dict:
        return _find(self.scale(scale).runs, "run", rid, scale, "no run group defines it")

    def view(self, scale: str, vid: str) -> dict:
        return _find(self.scale(scale).views, "view", vid, scale, "no run of any paper trains on it")

    def vectors(self, scale: str, vid: str) -> dict:
        return _find(self.scale(scale).vectors, "vectors", vid, scale)

    def cover(self, scale: str, cid: str) -> dict:
        return _find(self.scale(scale).covers, "set cover", cid, scale)

    def evaluation(self, scale: str, eid: str) -> dict:
        return _find(self.scale(scale).evals, "evaluation", eid, scale, "no run group of any paper declares it")

    # ---- a paper's rows at the configured seeds, expanded once: the input functions ask thousands of times ----

    @functools.cache
    def runs(self, scale: str, slug: str) -> tuple[dict, ...]:
        """Paper.runs at the configured seeds (read-only rows)."""
        return tuple(self.paper(scale, slug).runs(scale, self.seeds))

    @functools.cache
    def evaluations(self, scale: str, slug: str) -> tuple[dict, ...]:
        """Paper.evaluations at the configured seeds (read-only rows)."""
        return tuple(self.paper(scale, slug).evaluations(scale, self.seeds))

    # ---- packs: what stands for a finished run ----

    @functools.cache
    def packs(self, scale: str) -> tuple[dict[str, list[str]], dict[str, str]]:
        """pack id -> its run ids, and run id -> its pack id (robustrepro.packs). With `pack: auto`,
        only where runs train on CUDA: on a CPU a pack's runs train in turn in one process, which
        saves start-ups but serialises what separate jobs would run at once on several cores."""
        wanted = self.pack_setting is True or (self.pack_setting == "auto" and self.device == "cuda")
        found = packs.packs(self.scale(scale).runs) if wanted else {}
        return found, {rid: pid for pid, members in found.items() for rid in members}

    def pack(self, scale: str, pid: str) -> list[dict]:
        found, _ = self.packs(scale)
        if pid not in found:
            raise UserError(f"unknown pack '{pid}' at scale {scale}: no runs of any paper make it up (its id changes "
                            "with its runs: build a target, not an old path)")
        return [self.scale(scale).runs[rid] for rid in found[pid]]

    def finished_file(self, scale: str, rid: str) -> str:
        """What stands for a finished run: its metrics.json, or the record of the pack that trains it."""
        pid = self.packs(scale)[1].get(rid)
        return paths.pack_record(scale, pid) if pid else paths.metrics(scale, rid)

    def group_files(self, scale: str, slug: str, group: str) -> list[str]:
        """metrics.json and history.csv of every run of a group (or its packs' records), and the JSON of
        each of the group's evaluations: what the group's CSV is collected from."""
        self.group(scale, slug, group)
        rows = [r for r in self.runs(scale, slug) if r["group"] == group]
        packed = self.packs(scale)[1]
        runs = [f for r in rows if r["run_id"] not in packed
                for f in (paths.metrics(scale, r["run_id"]), paths.history(scale, r["run_id"]))]
        records = sorted({paths.pack_record(scale, packed[r["run_id"]]) for r in rows if r["run_id"] in packed})
        evals = [paths.evaluation(scale, r["eval_id"]) for r in self.evaluations(scale, slug) if r["group"] == group]
        return runs + records + evals

    def run_ids(self, scale: str, slug: str) -> list[str]:
        """The ids of every run of a paper at a scale, in its groups' order."""
        return [row["run_id"] for row in self.runs(scale, slug)]

    def group_datasets(self, scale: str, slug: str, group: str) -> list[str]:
        return sorted({row["run"]["dataset"] for row in self.runs(scale, slug) if row["group"] == group})


def from_config(config: dict, papers: list[Paper]) -> Pipeline:
    """The pipeline of a checked workflow config over `papers`: each spec is validated and its runs expanded
    at the configured scale (at another scale only when one of its targets is named)."""
    pipeline = Pipeline(papers, seeds(config), config.get("pack", "auto"), device_kind(config["device"]))
    pipeline.scale(config["scale"])
    return pipeline
