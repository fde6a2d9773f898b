"""Running a light job inside the Snakemake process instead of a new Python per job.

Collecting a group, drawing a table or figure, comparing with the paper and writing the index
each take a second; a new interpreter that imports pandas and matplotlib for each cost more than
the work. The workflow's light rules call `in_process` from a `run:` block: the package is
imported once, by Snakemake itself. Jobs run one at a time (matplotlib's pyplot and the logging
set-up are process-wide), their log lines and warnings go to the rule's log file, and a UserError
ends the job with its one line, in the log and on the console.

With `--force-use-threads` (set in the default profile, which Snakemake finds beside the
Snakefile) a local run calls this in a thread of its own process; without it Snakemake starts
one process per `run:` job, which is slower but builds the same files.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Callable

from robustrepro.errors import UserError

_ONE_AT_A_TIME = threading.Lock()
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LightJobError(Exception):
    """A light job that failed for a reason its user can fix: the message is the whole story."""


class _NotSnakemake(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("snakemake")


def in_process(log: str | Path, job: Callable[..., object], *args, **kwargs) -> object:
    """`job(*args, **kwargs)` with its logging and warnings written to `log`; one job at a time."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with _ONE_AT_A_TIME, log.open("w") as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_NotSnakemake())
        root = logging.getLogger()
        level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                logging.captureWarnings(True)
                return job(*args, **kwargs)
        except UserError as exc:
            stream.write(f"error: {exc}\n")
            raise LightJobError(f"robustrepro: {exc}") from None
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(level)
