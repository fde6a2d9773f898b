"""Command line of the pipeline steps; every Snakemake rule calls one subcommand.

    python -m robustrepro fetch   --dataset mnist --root resources/data --manifest m.json
    python -m robustrepro prepare --dataset mnist --manifest m.json --out mnist.npz
    python -m robustrepro view    --spec '{...}' --data mnist.npz --out view.npz --summary view.json
    python -m robustrepro train   --run '{...}' --data mnist.npz --view view.npz --out DIR --checkpoint last.pt
    python -m robustrepro extract --checkpoint a.pt --snapshot final --data mnist.npz --view view.npz --kind features --out v.npy
    python -m robustrepro cluster --vectors v.npy --radius 1.5 --out clusters.npz
    python -m robustrepro evaluate --run '{...}' --eval '{...}' --data mnist.npz --view view.npz --checkpoint last.pt --out e.json
    python -m robustrepro show-runs / counts / config-reference / paper-pages   (robustrepro.cli_describe)
    python -m robustrepro snakemake --cores all results/quick/massive-noise/figure1.pdf   (robustrepro.launch)

A UserError (bad value, missing or corrupt file) ends the command with one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from robustrepro.cli_describe import add_describing_commands
from robustrepro.errors import UserError, unknown_choice
from robustrepro.files import DISK_FULL, atomic_write_text, disk_full
from robustrepro.jobenv import DEVICE_VAR, PROGRESS_VAR


def _fetch(args) -> None:
    from robustrepro.data import DATASETS, fetch, verify_present

    if args.dataset not in DATASETS:
        raise unknown_choice("--dataset", args.dataset, DATASETS)
    info = DATASETS[args.dataset]
    root = None
    for shared in args.shared_root:
        try:
            verify_present(info, shared)
            root = shared
            break
        except UserError as exc:
            logging.info("not using shared root %s: %s", shared, exc)
    if root is None:
        root = args.root
        fetch(info, root, mirror=args.mirror, progress=not args.no_progress)
    files = [f.path for f in info.files]
    manifest = {"dataset": args.dataset, "root": str(Path(root).resolve()),
                "files": {p: f.md5 for p, f in zip(files, info.files)}}
    atomic_write_text(args.manifest, json.dumps(manifest, indent=2))
    logging.info("%s: raw files verified under %s", args.dataset, root)


def _prepare(args) -> None:
    from robustrepro.data import prepare

    root = json.loads(Path(args.manifest).read_text())["root"] if args.manifest else None
    data = prepare(args.dataset, root, args.out)
    logging.info("prepared %s: %d train, %d test, shape %s, %d classes", args.dataset,
                 len(data.train_y), len(data.test_y), data.shape, data.num_classes)


def _view(args) -> None:
    from robustrepro.noise import build_view
    from robustrepro.views import write_view

    view = build_view(json.loads(args.spec), args.data)
    write_view(args.out, view, args.summary)  # the summary is the view's record (robustrepro.views)
    logging.info("view: %d train examples, realised noise rate %.4f", len(view.train_indices), view.noise_rate)


def _train(args) -> None:
    from robustrepro.training import train_run

    metrics = train_run(json.loads(args.run), args.data, args.view, args.out, args.checkpoint,
                        device=args.device, threads=args.threads, progress=not args.no_progress,
                        compile=args.compile, clustering=args.clustering, lock_timeout=args.lock_timeout,
                        checkpoint_seconds=args.checkpoint_seconds, precision=args.precision,
                        channels_last=args.channels_last)
    logging.info("final: %s", json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))


def _train_pack(args) -> None:
    from robustrepro import paths
    from robustrepro.files import atomic_write
    from robustrepro.runs import run_id
    from robustrepro.training.pack import train_pack

    runs = json.loads(args.runs)
    ids = [run_id(run) for run in runs]
    root, checkpoints = Path(args.runs_root), Path(args.checkpoints)
    for rid in ids:
        (root / rid).mkdir(parents=True, exist_ok=True)
    checkpoints.mkdir(parents=True, exist_ok=True)
    metrics = train_pack(runs, args.data, args.view, [root / rid for rid in ids],
                         [checkpoints / paths.checkpoint_name(rid) for rid in ids], device=args.device,
                         threads=args.threads, precision=args.precision, channels_last=args.channels_last,
                         compile=args.compile)
    # The record the workflow waits for: every run's results are in its own folder by now.
    summary = {m["run_id"]: {k: m[k] for k in ("epochs_done", "best_epoch", "test_acc1") if k in m} for m in metrics}
    text = json.dumps({"runs": summary}, indent=1, sort_keys=True) + "\n"
    atomic_write(Path(args.record), lambda f: f.write(text.encode()))
    logging.info("pack of %d runs trained: %s", len(ids), ", ".join(ids))


def _extract(args) -> None:
    from robustrepro.extraction import extract_to_file
    from robustrepro.training.checkpoint import snapshot_path
    from robustrepro.compute.device import set_threads

    set_threads(args.threads)
    paths = [snapshot_path(args.checkpoint, int(tag) if tag.isdigit() else tag) for tag in args.snapshot]
    for path in paths:
        if not path.is_file():
            raise UserError(f"model snapshot {path} is missing: its run did not keep it (check the run's "
                            "`snapshots`), or its checkpoints were deleted; delete the run's metrics.json and rebuild")
    array = extract_to_file(paths, args.data, args.view, args.kind, args.out, args.device, args.dtype)
    logging.info("extracted %s: %d x %d from %d snapshot(s)", args.kind, *array.shape, len(paths))


def _cluster(args) -> None:
    from robustrepro.selection.clustering import cluster_file
    from robustrepro.compute.device import pick_device, set_threads

    set_threads(args.threads)
    cluster_file(args.vectors, args.out, args.radius, args.share, pick_device(args.device))


def _evaluate(args) -> None:
    from robustrepro.evaluation.run import evaluate_snapshot
    from robustrepro.evaluation.spec import resolve_evaluation
    from robustrepro.training.checkpoint import snapshot_path

    spec = resolve_evaluation(json.loads(args.eval))
    path = snapshot_path(args.checkpoint, spec["snapshot"])
    evaluate_snapshot(json.loads(args.run), spec, args.data, args.view, path, args.out, device=args.device,
                      threads=args.threads, progress=not args.no_progress, channels_last=args.channels_last,
                      compile=args.compile)


def _collect(args) -> None:
    from robustrepro.papers import load
    from robustrepro.report import jobs

    jobs.group_csv(load(args.paper, args.paper_module), args.group, args.scale, args.seeds, args.out,
                   args.runs_root, args.evals_root)


def _target(args) -> None:
    from robustrepro.papers import load
    from robustrepro.report import jobs

    jobs.target(load(args.paper, args.paper_module), args.target, args.scale, args.images, args.results_dir,
                args.runs_root)


def _compare(args) -> None:
    from robustrepro.papers import load
    from robustrepro.report import jobs

    jobs.comparison(load(args.paper, args.paper_module), args.scale, args.groups, args.results_dir)


def _index(args) -> None:
    from robustrepro.papers import all_papers
    from robustrepro.report import jobs

    jobs.index(all_papers(args.paper_module), args.scale, args.out, json.loads(args.skipped))


def _recipe_arguments(parser: argparse.ArgumentParser, training: bool = True) -> None:
    """--channels-last, --compile and (training) --precision: the job's recipe (robustrepro.compute.recipe)."""
    layouts = {"auto": "auto", "true": True, "false": False}
    parser.add_argument("--channels-last", choices=list(layouts.values()), default="auto", type=lambda v: layouts.get(v, v),
                        help="memory layout (default auto: the device's own for the model)")
    parser.add_argument("--compile", action="store_true", help="torch.compile (inductor) the model's forward")
    if training:
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                            help="auto: bf16 autocast on CUDA, fp32 on a CPU")


def _env_device() -> str:
    """The device the workflow's config names (robustrepro.jobenv.expose_settings), or auto."""
    return os.environ.get(DEVICE_VAR) or "auto"


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes in one line, as every other error here (argparse prints the usage too)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _values_attached(argv: list[str], commands: dict[str, argparse.ArgumentParser]) -> list[str]:
    """argv with `--option VALUE` written `--option=VALUE` for every option of the command that takes one value.

    argparse takes a value that starts with '-' (a data.root of '-x', which the rules pass on)
    for an option and stops with "expected one argument"; in the `=` form it is always a value."""
    command = commands.get(argv[0]) if argv else None
    if command is None:
        return argv
    takes_value = {name for action in command._actions if action.nargs is None for name in action.option_strings}
    out, rest = argv[:1], iter(argv[1:])
    for arg in rest:
        value = next(rest, None) if arg in takes_value else None
        out.append(arg if value is None else f"{arg}={value}")
    return out


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="robustrepro", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    p.commands = sub.choices  # command -> its parser (main reads which options take a value)

    f = sub.add_parser("fetch", help="find or download a dataset's raw files and verify their checksums")
    f.add_argument("--dataset", required=True)
    f.add_argument("--root", required=True, help="writable folder; downloads go here")
    f.add_argument("--shared-root", action="append", default=[], help="read-only folder searched first")
    f.add_argument("--mirror", default=None)
    f.add_argument("--manifest", required=True, help="JSON written on success: the root used and the files")
    f.set_defaults(func=_fetch)

    r = sub.add_parser("prepare", help="read the raw files (or make the synthetic set) into one uint8 .npz")
    r.add_argument("--dataset", required=True)
    r.add_argument("--manifest", default=None, help="fetch's manifest (not needed for synthetic datasets)")
    r.add_argument("--out", required=True)
    r.set_defaults(func=_prepare)

    v = sub.add_parser("view", help="holdout, shaping and label noise: the examples and labels a run trains on")
    v.add_argument("--spec", required=True, help="JSON view spec (robustrepro.runs.view_spec)")
    v.add_argument("--data", required=True)
    v.add_argument("--out", required=True)
    v.add_argument("--summary", required=True)
    v.set_defaults(func=_view)

    t = sub.add_parser("train", help="train one run (resumes from its checkpoint)")
    t.add_argument("--run", required=True, help="JSON run config (robustrepro.runs.resolve)")
    t.add_argument("--data", required=True)
    t.add_argument("--view", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--checkpoint", required=True)
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_env_device())
    t.add_argument("--threads", type=int, default=None)
    _recipe_arguments(t)
    t.add_argument("--clustering", default=None, help="the set cover of the run's `clustering` key")
    t.add_argument("--lock-timeout", type=float, default=None,
                   help="seconds to wait while another process trains the same run (default: as long as it "
                        "takes; 0: stop at once)")
    t.add_argument("--checkpoint-seconds", type=float, default=600.0,
                   help="within an epoch, write a checkpoint once this many seconds have passed since the last "
                        "(default 600; epochs always end with one)")
    t.set_defaults(func=_train)

    k = sub.add_parser("train-pack", help="train runs that differ only in seed and lr side by side (one pack)")
    k.add_argument("--runs", required=True, help="JSON list of run configs (robustrepro.packs.packable)")
    k.add_argument("--data", required=True)
    k.add_argument("--view", required=True)
    k.add_argument("--runs-root", required=True, help="each run's outputs go to <runs-root>/<run id>/")
    k.add_argument("--checkpoints", required=True, help="each run's checkpoint is <checkpoints>/<run id>.pt")
    k.add_argument("--record", required=True, help="a JSON written once every run of the pack is done")
    k.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_env_device())
    k.add_argument("--threads", type=int, default=None)
    _recipe_arguments(k)
    k.set_defaults(func=_train_pack)

    x = sub.add_parser("extract", help="features or last-layer gradients of every training example")
    x.add_argument("--checkpoint", required=True, help="the source run's checkpoint; its snapshots sit beside it")
    x.add_argument("--snapshot", action="append", required=True,
                   help="final, best or an epoch; several are concatenated in the order given")
    x.add_argument("--data", required=True)
    x.add_argument("--view", required=True)
    x.add_argument("--kind", required=True, choices=["features", "grad_fc", "grad_softmax"])
    x.add_argument("--out", required=True, help=".npy (a .json beside it says what it holds)")
    x.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    x.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_env_device())
    x.add_argument("--threads", type=int, default=None)
    x.set_defaults(func=_extract)

    u = sub.add_parser("cluster", help="greedy set cover of radius balls around the vectors")
    u.add_argument("--vectors", required=True)
    fineness = u.add_mutually_exclusive_group(required=True)
    fineness.add_argument("--radius", type=float)
    fineness.add_argument("--share", type=float, help="clusters / points; the radius is searched for")
    u.add_argument("--out", required=True)
    u.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_env_device())
    u.add_argument("--threads", type=int, default=None)
    u.set_defaults(func=_cluster)

    e = sub.add_parser("evaluate", help="one run's model snapshot on a split of its view, under an attack or defence")
    e.add_argument("--run", required=True, help="JSON run config of the evaluated run (robustrepro.runs.resolve)")
    e.add_argument("--eval", required=True, help="JSON evaluation spec (robustrepro.evaluation.spec)")
    e.add_argument("--data", required=True)
    e.add_argument("--view", required=True)
    e.add_argument("--checkpoint", required=True,
                   help="the run's checkpoint; the snapshot the spec names (final, best, an epoch) sits beside it")
    e.add_argument("--out", required=True, help="the evaluation's JSON")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default=_env_device())
    e.add_argument("--threads", type=int, default=None)
    _recipe_arguments(e, training=False)
    e.set_defaults(func=_evaluate)

    c = sub.add_parser("collect", help="one CSV of a run group's coordinates, seeds, final metrics and evaluations")
    c.add_argument("--paper", required=True)
    c.add_argument("--group", required=True)
    c.add_argument("--scale", required=True)
    c.add_argument("--seeds", required=True, type=lambda s: [int(x) for x in s.split(",")])
    c.add_argument("--runs-root", required=True)
    c.add_argument("--evals-root", default=None, help="results/{scale}/evals (default: beside --runs-root)")
    c.add_argument("--out", required=True)
    c.set_defaults(func=_collect)

    g = sub.add_parser("target", help="build one table or figure of a paper from its groups' CSVs")
    g.add_argument("--paper", required=True)
    g.add_argument("--target", required=True)
    g.add_argument("--scale", required=True)
    g.add_argument("--results-dir", required=True, help="results/{scale}/{paper}")
    g.add_argument("--runs-root", required=True, help="results/{scale}/runs")
    g.add_argument("--images", default=None, help="the prepared .npz of the target's images group (Target.images)")
    g.set_defaults(func=_target)

    k = sub.add_parser("compare", help="reported vs reproduced numbers and the paper's claims")
    k.add_argument("--paper", required=True)
    k.add_argument("--scale", required=True)
    k.add_argument("--results-dir", required=True)
    k.add_argument("--groups", nargs="*", default=None,
                   help="the group CSVs to compare (default: every group's, under results-dir/groups)")
    k.set_defaults(func=_compare)

    i = sub.add_parser("index", help="a Markdown page listing every target of every paper at a scale")
    i.add_argument("--scale", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--skipped", default="{}", help='JSON {"paper/target": why it was not built}')
    i.set_defaults(func=_index)

    described = add_describing_commands(sub)

    for s in (f, r, v, t, x, u, e, c, g, k, i):
        s.add_argument("--no-progress", action="store_true", default=os.environ.get(PROGRESS_VAR) == "off",
                       help="no progress bars (default: as the workflow's config says, through the environment)")
    for s in (c, g, k, i, *described):
        s.add_argument("--paper-module", action="append", default=[],
                       help="an importable module defining PAPER, besides robustrepro's papers (config paper_modules)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["snakemake"]:  # the workflow itself, after a check of its command line
        from robustrepro.launch import main as launch

        return launch(argv[1:])
    p = parser()
    args = p.parse_args(_values_attached(argv, p.commands))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        args.func(args)
    except UserError as exc:
        print(f"robustrepro {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        # A write that bypasses robustrepro.files (a library's own) on a full disk: still one line.
        print(f"robustrepro {args.command}: error: {disk_full(exc.filename or 'a file', exc)}", file=sys.stderr)
        return 2
    return 0
