"""Checkpoints: everything a run needs to resume at an epoch boundary, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from robustrepro.errors import UserError
from robustrepro.runs import canonical_json

FORMAT = 1


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write to a temporary file, then rename: a kill leaves the old checkpoint or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save({"format": FORMAT, **state}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, run: dict) -> dict | None:
    """The checkpoint at `path` if there is one, after checking that `run` wrote it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file means the same to the user
        raise UserError(f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to start the run over") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"checkpoint {path} is not a robustrepro checkpoint of format {FORMAT}; "
                        "delete it to start the run over")
    if state["run_json"] != canonical_json(run):
        raise UserError(f"checkpoint {path} was written by a different run config "
                        f"(differs in: {', '.join(_differences(state['run_json'], run))}); delete it to start this run over")
    return state


def _differences(saved_json: str, run: dict) -> list[str]:
    saved = json.loads(saved_json)
    return sorted(k for k in set(saved) | set(run) if saved.get(k) != run.get(k)) or ["key order or types"]
