"""`robustrepro snakemake ARGS`: Snakemake, after checking the parts of its command line it reads
before the workflow does.

Snakemake parses `--config` entries and loads `--configfile` files before the Snakefile runs,
so a mistake there ends in its traceback rather than in the workflow's one-line messages. This
checks them first, with the same wording as the rest of the harness, then runs Snakemake
unchanged with the same arguments. Before a build (not a dry run or a lint) it removes the locks a
killed build left, when no build runs in the folder (robustrepro.buildlock), so that the command
that was killed is simply run again.
"""

from __future__ import annotations

import os
import sys

from robustrepro import config as rr_config
from robustrepro.buildlock import remove_stale_locks
from robustrepro.errors import UserError

CONFIG_OPTIONS = ("--config", "-C")
DIRECTORY_OPTIONS = ("--directory", "-d")
LOOKS_ONLY = ("-n", "--dry-run", "--dryrun", "--lint", "--unlock", "--summary", "-S", "--detailed-summary", "-D",
              "--list-rules", "-l", "--dag", "--rulegraph", "--filegraph")
CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")


def _values_after(args: list[str], options: tuple[str, ...]) -> list[str]:
    """The values of options that take several (`--config a=1 b=2`), and of `--option=value`."""
    values, taking = [], False
    for arg in args:
        name, eq, value = arg.partition("=")
        if arg.startswith("-"):
            taking = arg in options
            if name in options and eq:
                values.append(value)
            continue
        if taking:
            values.append(arg)
    return values


def check_command_line(args: list[str]) -> None:
    """UserError for a `--config` entry without `=` or a `--configfile` that is missing, empty or broken."""
    for entry in _values_after(args, CONFIG_OPTIONS):
        if "=" not in entry:
            raise UserError(f"--config {entry}: a config entry is key=value (e.g. seeds=[0,1] or device=cpu); "
                            "targets go before --config, which takes every word after it")
    for path in _values_after(args, CONFIGFILE_OPTIONS):
        try:
            rr_config.read_yaml(path)
        except UserError as exc:
            # A file that is not there is most often a target typed after --configfile.
            hint = "" if os.path.exists(path) else " (--configfile takes every word after it: targets go before it)"
            raise UserError(f"--configfile {path}: {exc}{hint}") from None


def _directory(args: list[str]) -> str:
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in DIRECTORY_OPTIONS:
            return value if eq else (args[i + 1] if i + 1 < len(args) else ".")
    return "."


def main(args: list[str]) -> int:
    try:
        check_command_line(args)
        if not any(arg.partition("=")[0] in LOOKS_ONLY for arg in args):
            for lock in remove_stale_locks(_directory(args)):
                print(f"robustrepro: removed {lock}, which a killed build left (no build runs here)", file=sys.stderr)
    except UserError as exc:
        print(f"robustrepro: {exc}", file=sys.stderr)
        return 2
    os.execv(sys.executable, [sys.executable, "-m", "snakemake", *args])
