"""The command line's describing commands: what the harness holds (runs, counts, config keys),
printed, or written into docs/. They run no pipeline step; robustrepro.cli adds them to its parser.

    python -m robustrepro show-runs reweight figure5 --scale quick    (what a group trains, as a table)
    python -m robustrepro counts [--gpu]                               (runs and time of every paper and scale)
    python -m robustrepro config-reference > docs/configuration.md
    python -m robustrepro paper-pages                                  (the generated part of docs/papers/*.md)
    python -m robustrepro latest-run WORKDIR --scale quick             (docs/papers/*.md: a build's results)
"""

from __future__ import annotations

import argparse
import sys

from robustrepro.errors import UserError


def add_describing_commands(sub) -> list[argparse.ArgumentParser]:
    """Adds the commands to `sub` (argparse subparsers); returns those that read a paper's spec,
    which take --paper-module as the pipeline commands do."""
    w = sub.add_parser("show-runs", help="every resolved run of a paper (or one run group) at a scale: its id, "
                                         "grid coordinates and the settings that differ from the defaults")
    w.add_argument("paper")
    w.add_argument("group", nargs="?", default=None, help="one run group of the paper (default: all of them)")
    w.add_argument("--scale", required=True, help="smoke, quick or paper")
    w.add_argument("--seeds", default=None, type=lambda s: [int(x) for x in s.split(",")],
                   help="e.g. 0,1 (default: the scale's seeds)")
    w.add_argument("--format", default="table", help="table (default), markdown or csv")
    w.set_defaults(func=_show_runs)

    n = sub.add_parser("counts", help="runs, evaluations and the estimated training time of every paper at every scale")
    n.add_argument("--format", default="markdown", choices=("markdown", "csv"))
    n.add_argument("--gpu", action="store_true", help="per paper at paper scale: runs, packs and H100 GPU-hours, "
                                                      "FLOP-bound and step-bound (robustrepro.gpu_cost)")
    n.set_defaults(func=_counts)

    o = sub.add_parser("config-reference", help="docs/configuration.md: every workflow and run config key, from the code")
    o.set_defaults(func=_config_reference)

    d = sub.add_parser("paper-pages", help="rewrite the generated part of docs/papers/<paper>.md from each paper's spec")
    d.add_argument("--root", default=".", help="the checkout holding docs/ (default: here)")
    d.set_defaults(func=_paper_pages)

    a = sub.add_parser("latest-run", help="rewrite the latest-run part of docs/papers/<paper>.md from a finished build")
    a.add_argument("workdir", help="the build's working directory (holding results/)")
    a.add_argument("--scale", default="quick")
    a.add_argument("--note", default="", help="how the build was made, e.g. \"make reproduce from a fresh clone, 53 minutes\"")
    a.add_argument("--root", default=".", help="the checkout holding docs/ (default: here)")
    a.set_defaults(func=_latest_run)
    return [w, n]


def _config_reference(args) -> None:
    from robustrepro.report.config_reference import page

    sys.stdout.write(page())


def _paper_pages(args) -> None:
    from robustrepro.papers import all_papers
    from robustrepro.report.paper_pages import write_pages

    changed = write_pages(args.root, all_papers())
    print("rewrote " + ", ".join(map(str, changed)) if changed else "every paper page is up to date")


def _latest_run(args) -> None:
    from robustrepro.papers import all_papers
    from robustrepro.report.latest_run import write_sections

    changed = write_sections(args.root, all_papers(), args.workdir, args.scale, args.note)
    print("rewrote " + ", ".join(map(str, changed)) if changed else "no page changed")


def _counts(args) -> None:
    from robustrepro.papers import all_papers
    from robustrepro.report.counts import counts, gpu_counts, markdown

    table = (gpu_counts if args.gpu else counts)(all_papers(args.paper_module))
    sys.stdout.write(table.to_csv(index=False) if args.format == "csv" else markdown(table))


def _show_runs(args) -> None:
    from robustrepro.config import SCALE_SEEDS
    from robustrepro.papers import load
    from robustrepro.report.show_runs import render, runs_table
    from robustrepro.scales import SCALES

    if args.scale not in SCALES:
        raise UserError(f"--scale {args.scale}: unknown scale; scales: {', '.join(SCALES)}")
    seeds = args.seeds or SCALE_SEEDS[args.scale]
    table = runs_table(load(args.paper, args.paper_module), args.scale, seeds, args.group)
    sys.stdout.write(render(table, args.format))
