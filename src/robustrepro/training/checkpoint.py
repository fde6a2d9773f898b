"""Checkpoints: everything a run needs to resume at an epoch boundary, written atomically.

Beside the checkpoint `<stem>.pt` a run keeps model snapshots, `<stem>.<tag>.pt`: the weights
alone (plus the run config and epoch), for feature and gradient extraction. The tags are
`e<epoch>` for each epoch listed in the run's `snapshots`, `best` and `final`.

Both record what they were computed from (`inputs`: digests of the prepared data, view and
clustering files, and the code fingerprint, see robustrepro.provenance) and the training
sessions that contributed epochs. A checkpoint is resumed only when its inputs are the ones
the run is given now (`stale_because`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from robustrepro.errors import UserError
from robustrepro.files import atomic_write
from robustrepro.provenance import differences
from robustrepro.runs import canonical_json, identity

FORMAT = 3  # 3: records its inputs and training sessions; 2: the trainer state holds the `best` tracker
OLDER_FORMATS = (2,)  # read, but never resumed: they do not say what they were computed from
SNAPSHOT_FORMAT = 2  # 2: records its provenance
OLDER_SNAPSHOT_FORMATS = (1,)


def _compact(obj):
    """obj with every tensor that views part of a larger storage (a packed run's row of its pack's
    stacked weights, robustrepro.training.pack) copied out: torch.save writes a view's whole storage."""
    if isinstance(obj, torch.Tensor):
        whole = obj.untyped_storage().nbytes()
        return obj.clone() if whole > obj.numel() * obj.element_size() else obj
    if isinstance(obj, dict):
        return {k: _compact(v) for k, v in obj.items()}
    if isinstance(obj, list) or type(obj) is tuple:
        return type(obj)(_compact(v) for v in obj)
    return obj


def _atomic_save(path: Path, obj: dict) -> None:
    obj = _compact(obj)
    atomic_write(path, lambda f: torch.save(obj, f))


def save_checkpoint(path: str | Path, state: dict) -> None:
    _atomic_save(Path(path), {"format": FORMAT, **state})


def load_checkpoint(path: str | Path, run: dict) -> dict | None:
    """The checkpoint at `path` if there is one, after checking that `run` wrote it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file means the same to the user
        raise UserError(f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to start the run over") from exc
    if not isinstance(state, dict) or state.get("format") not in (FORMAT, *OLDER_FORMATS):
        raise UserError(f"checkpoint {path} is not a robustrepro checkpoint of format {FORMAT}; "
                        "delete it to start the run over")
    # Same identity = same run (robustrepro.runs.identity): a checkpoint written before an
    # optional key was added to the run config still resumes. Another run's checkpoint stays an
    # error rather than a fresh start: starting over would overwrite that run's checkpoint, and
    # the workflow names checkpoints by run id, so only a hand-made call gets here.
    if canonical_json(identity(json.loads(state["run_json"]))) != canonical_json(identity(run)):
        raise UserError(f"checkpoint {path} was written by a different run config "
                        f"(differs in: {', '.join(_differences(state['run_json'], run))}); delete it to start this run over")
    return state


def stale_because(state: dict, inputs: dict) -> list[str]:
    """Why the checkpoint `state` must not be resumed with `inputs` (data digests and code); [] if it may."""
    if state.get("format") in OLDER_FORMATS:
        return [f"it was written in format {state['format']}, which records neither data digests nor the code"]
    recorded = state.get("inputs") or {}
    return (differences(recorded.get("data"), inputs["data"], "input file")
            + differences(recorded.get("code"), inputs["code"], "code"))


def _differences(saved_json: str, run: dict) -> list[str]:
    saved = json.loads(saved_json)
    return sorted(k for k in set(saved) | set(run) if saved.get(k) != run.get(k)) or ["key order or types"]


def snapshot_path(checkpoint_path: str | Path, tag: int | str) -> Path:
    """Where the snapshot `tag` (an epoch, "best" or "final") of the run checkpointed at `checkpoint_path` lives."""
    path = Path(checkpoint_path)
    name = f"e{tag}" if isinstance(tag, int) else tag
    return path.with_name(f"{path.stem}.{name}.pt")


def save_snapshot(path: str | Path, model: torch.nn.Module, run: dict, epoch: int,
                  provenance: dict | None = None) -> None:
    """The weights of `model` after `epoch`; `provenance` says what they were trained from (the checkpoint's record)."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _atomic_save(Path(path), {"snapshot_format": SNAPSHOT_FORMAT, "run_json": canonical_json(run),
                              "epoch": epoch, "model": weights, "provenance": provenance})


def load_snapshot(path: str | Path) -> dict:
    """A snapshot's content: run_json, epoch, model (a state_dict on the CPU) and provenance
    (inputs and sessions; None for a snapshot written before snapshots recorded it)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model snapshot {path} is missing: list its epoch in the run's `snapshots` and train the run "
                        "(best and final are always kept; a run stopped early keeps no epoch after the stop)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"model snapshot {path} cannot be read ({type(exc).__name__}); "
                        "delete it and rerun its run") from exc
    if not isinstance(state, dict) or state.get("snapshot_format") not in (SNAPSHOT_FORMAT, *OLDER_SNAPSHOT_FORMATS):
        raise UserError(f"{path} is not a robustrepro model snapshot of format {SNAPSHOT_FORMAT}; "
                        "delete it and rerun its run")
    return {"provenance": None, **state}
