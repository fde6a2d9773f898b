"""Load and validate the workflow configuration (config.yaml) against its JSON schema.

Snakemake's own `validate` prints the whole schema on failure; researchers need one line that
names the key, the bad value and what is allowed, so the first error is rephrased here.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from robustrepro.errors import UserError

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _key(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(filter(None, [path, extra[0] if extra else ""]))
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join(filter(None, [path, missing[0] if missing else ""]))
    return path or "(top level)"


def _spelled(choice) -> str:
    """A choice as config.yaml and --config write it (true, not Python's True)."""
    return json.dumps(choice) if isinstance(choice, bool) or choice is None else str(choice)


def _allowed(error: jsonschema.ValidationError) -> str:
    s, v = error.schema, error.validator
    if v == "enum":
        return "one of " + ", ".join(map(_spelled, s["enum"]))
    if v == "additionalProperties":
        return "known keys: " + ", ".join(sorted(s.get("properties", {})))
    if v == "required":
        return "this key is required"
    if v == "pattern":
        return f"a value matching {s['pattern']}"
    if v in ("minimum", "maximum"):
        lo, hi = s.get("minimum"), s.get("maximum")
        return f"a number in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    if v == "type" and s["type"] == "boolean":
        return "true or false"
    if v == "type":
        return "type " + " or ".join([s["type"]] if isinstance(s["type"], str) else s["type"])
    return error.message


def validate(config: dict, schema_path: Path = SCHEMA) -> dict:
    """Return config if valid; otherwise raise UserError for its first problem, in one line."""
    schema = yaml.safe_load(schema_path.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        key = _key(e)
        if e.validator in ("additionalProperties", "required"):
            raise UserError(f"config key '{key}': {'unknown key' if e.validator == 'additionalProperties' else 'missing'}; {_allowed(e)}")
        raise UserError(f"config key '{key}': bad value {e.instance!r}; allowed: {_allowed(e)}")
    return config


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from `path`; UserError naming the file (and the line of a syntax error)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} not found; create it (copy the project's config.yaml) "
                        "or pass an existing one with --configfile") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"config file {path} is not valid YAML{where}: {problem}; fix that line") from None
    if data is None:  # Snakemake stops on such a --configfile with a message that names no file
        raise UserError(f"config file {path} is empty (no key: value line); write in it the keys you set "
                        "(e.g. scale: smoke)")
    if not isinstance(data, dict):
        raise UserError(f"config file {path} holds a {type(data).__name__}, not a mapping of keys to values")
    return data


def load(path: str | Path) -> dict:
    return validate(typed(read_yaml(path)))


def typed(config: dict) -> dict:
    """Command-line values with the types config.yaml would give them (seeds, booleans)."""
    return with_typed_booleans(with_typed_seeds(config))


def _integer(text):
    try:
        return int(text)
    except ValueError:
        return text  # left as it is, for the schema to name


def with_typed_seeds(config: dict) -> dict:
    """Seeds given on the command line as integers.

    Snakemake reads `--config seeds=[0,1]` as the strings ['0', '1'] and `seeds=0,1` as one
    string, so both spellings (and `seeds=3`) are turned into a list of ints here, item by item,
    so that in `seeds=[0,x]` the schema names the bad 'x', not the valid 0.
    """
    value = config.get("seeds")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    elif isinstance(value, str):
        value = [s for s in value.strip("[] ").split(",") if s.strip()]
    if isinstance(value, list):
        value = [_integer(s) if isinstance(s, str) else s for s in value]
    return {**config, "seeds": value} if "seeds" in config else config


# Keys that take true or false (`pack` and `channels_last` take auto too). Snakemake's --config reads
# only True and False as booleans and keeps `pack=true`, the README's spelling, as the string 'true'.
BOOLEAN_KEYS = ("compile", "progress", "pack", "channels_last")
BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def with_typed_booleans(config: dict) -> dict:
    """true/false (any case, and YAML's yes/no/on/off) given as text, as booleans."""
    words = {k: BOOLEAN_WORDS[v.lower()] for k in BOOLEAN_KEYS
             if isinstance(v := config.get(k), str) and v.lower() in BOOLEAN_WORDS}
    return {**config, **words}


def merged(defaults: dict, overrides: dict) -> dict:
    """`defaults` (config.yaml) with `overrides` (--configfile, then --config) applied key by key."""
    out = dict(defaults)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def workflow_config(overrides: dict, default_file: str | Path) -> dict:
    """The workflow's config: `default_file` under Snakemake's --configfile/--config values, checked."""
    return validate(typed(merged(read_yaml(default_file), overrides)))


def missing_shared_roots(data: dict) -> list[str]:
    """One line for each data.shared_roots folder that is not here.

    A warning, not an error: a shared root is a lab's read-only store that some machines lack (the
    project's own config.yaml lists ../shared/data), and without it the data comes from data.root
    or a download as usual; the line says so, in case the path was mistyped."""
    return [f"data.shared_roots: {root} is not a folder here, so it is skipped (raw files come from data.root "
            "or a download); fix the path, or remove it from data.shared_roots on this machine"
            for root in data.get("shared_roots", []) if not Path(root).is_dir()]


SCALE_SEEDS = {"smoke": [0], "quick": [0, 1], "paper": [0, 1, 2]}


def seeds(config: dict) -> list[int]:
    return config.get("seeds") or SCALE_SEEDS[config["scale"]]


def fetch_args(data: dict) -> list[str]:
    """config's data options as `robustrepro fetch` arguments, a list so that each item gets quoted."""
    args = ["--root", data["root"]]
    for root in data.get("shared_roots", []):
        args += ["--shared-root", root]
    return args + (["--mirror", data["mirror"]] if data.get("mirror") else [])
