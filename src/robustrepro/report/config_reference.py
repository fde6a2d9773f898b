"""`robustrepro config-reference`: docs/configuration.md, generated from what the code reads.

The workflow's keys come from its JSON schema (type, allowed values, meaning) and the project's
config.yaml (default); a run's keys from robustrepro.runs.DEFAULT_RUN (default) and the comments
written beside each key in runs.py (meaning). A test regenerates the page and compares, so the
page cannot drift from the code.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import yaml

from robustrepro import runs
from robustrepro.config import SCHEMA

PROJECT_CONFIG = SCHEMA.parents[2] / "config.yaml"


def _type(spec: dict) -> str:
    if "enum" in spec:
        return " \\| ".join(json.dumps(v) if not isinstance(v, str) else v for v in spec["enum"])
    kind = spec.get("type", "object")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(kinds)
    if "items" in spec:
        text += f" of {spec['items'].get('type', 'values')}"
    if "minimum" in spec or "maximum" in spec:
        text += f" in [{spec.get('minimum', '-inf')}, {spec.get('maximum', 'inf')}]"
    return text


def _cell(value) -> str:
    return "`" + json.dumps(value) + "`"


def workflow_keys() -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every config.yaml key, nested keys dotted."""
    schema = yaml.safe_load(SCHEMA.read_text())
    defaults = yaml.safe_load(PROJECT_CONFIG.read_text())
    rows = []

    def walk(props: dict, prefix: str, default: dict) -> None:
        for key, spec in props.items():
            value = (default or {}).get(key)
            if "properties" in spec:
                walk(spec["properties"], f"{prefix}{key}.", value)
                continue
            rows.append((f"{prefix}{key}", _type(spec), _cell(value), spec.get("description", "")))

    walk(schema["properties"], "", defaults)
    return rows


def _run_comments() -> dict[str, str]:
    """Each top-level key of DEFAULT_RUN -> the comment beside it in runs.py, or the comment lines just above it."""
    source = Path(runs.__file__).read_text()
    start = source.index("DEFAULT_RUN: dict = {")
    body = source[start:source.index("\n}\n", start) + 3]
    comments, above, line_key = {}, [], {}
    for tok in tokenize.generate_tokens(io.StringIO(body).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            key = line_key.get(tok.start[0])
            if key:
                comments[key] = text
            else:
                above.append(text)
        elif tok.type == tokenize.STRING and tok.start[1] == 4:  # a key at the dict's indentation
            key = tok.string.strip('"')
            line_key[tok.start[0]] = key
            if above:
                comments[key] = " ".join(above)
                above = []
    return comments


def run_keys() -> list[tuple[str, str, str]]:
    """(key, default, meaning) of every run-config key."""
    comments = _run_comments()
    return [(key, _cell(value), comments.get(key, "")) for key, value in runs.DEFAULT_RUN.items()]


# Config section -> (what it chooses, its registry's module and name), for the components' table.
COMPONENTS = {
    "model": "robustrepro.models.common:MODELS", "optimizer": "robustrepro.training.optim:OPTIMIZERS",
    "schedule": "robustrepro.training.schedules:SCHEDULES", "sampler": "robustrepro.training.samplers:SAMPLERS",
    "step": "robustrepro.training.steps:STEPS", "metrics": "robustrepro.training.metrics:METRICS",
    "step_log.metrics": "robustrepro.training.step_log:STEP_METRICS", "noise": "robustrepro.noise.labels:NOISE",
    "shaping": "robustrepro.noise.shaping:SHAPING", "attack": "robustrepro.evaluation.attacks:ATTACKS",
    "defence": "robustrepro.evaluation.defences:DEFENCES",
}


def components() -> list[tuple[str, str, str, str]]:
    """(section, name, its options with defaults, the first paragraph of its builder's docstring) of every
    registered part; importing robustrepro.training registers every method (imports torch)."""
    import importlib
    import inspect

    importlib.import_module("robustrepro.training")
    importlib.import_module("robustrepro.models")
    rows = []
    for section, where in COMPONENTS.items():
        module, name = where.split(":")
        registry = getattr(importlib.import_module(module), name)
        for part in registry.names():
            builder = registry.builder(part)
            params = [p for p in inspect.signature(builder).parameters.values() if p.kind is p.KEYWORD_ONLY]
            options = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params)
            doc = " ".join((inspect.getdoc(builder) or "").split("\n\n")[0].split())  # its first paragraph
            rows.append((f"{section}.{registry.field}", part, options, doc))
    return rows


def page() -> str:
    lines = ["# Configuration", "",
             "Generated by `python -m robustrepro config-reference` from the workflow's schema "
             "(`workflow/schemas/config.schema.yaml`), the project's `config.yaml` and the run defaults "
             "(`robustrepro.runs.DEFAULT_RUN`); `tests/test_docs_config.py` fails when this page and the code disagree.",
             "", "## The workflow: `config.yaml`, `--configfile`, `--config`", "",
             "Set in `config.yaml`, a `--configfile`, or on the command line (`--config scale=smoke`, nested keys "
             "as `data='{root: ...}'`). A bad value stops the workflow with one line naming the key.", "",
             "| key | type or values | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in workflow_keys()]
    lines += ["", "## A run: the keys of a run group's `base` and grid", "",
              "A paper's run groups set these (`robustrepro.papers.spec.RunGroup`); every key not set keeps its "
              "default, and a component's section (`model`, `optimizer`, `schedule`, `sampler`, `step`, `noise`, "
              "`shaping`) takes its component's own options besides these. `robustrepro show-runs PAPER --scale S` "
              "prints what each run sets.", "",
              "| key | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{k}` | {d} | {_safe(m)} |" for k, d, m in run_keys()]
    lines += ["", "## Components: the choices of each section and their options", "",
              "Every registered part, with its options (keyword-only parameters of its builder, defaults shown; "
              "those without a default are required). An unknown option fails naming `section.option`.", "",
              "| section | choice | options | what it is |", "| --- | --- | --- | --- |"]
    lines += [f"| `{s}` | `{n}` | {_safe(o) or '(none)'} | {_safe(d)} |" for s, n, o, d in components()]
    return "\n".join(lines) + "\n"


def _safe(text: str) -> str:
    """Text for a Markdown table cell."""
    return re.sub(r"[|]", "/", text)
