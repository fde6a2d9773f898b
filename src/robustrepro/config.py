"""Load and validate the workflow configuration (config.yaml) against its JSON schema.

Snakemake's own `validate` prints the whole schema on failure; researchers need one line that
names the key, the bad value and what is allowed, so the first error is rephrased here.
"""

from __future__ import annotations

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


def _allowed(error: jsonschema.ValidationError) -> str:
    s, v = error.schema, error.validator
    if v == "enum":
        return "one of " + ", ".join(map(str, s["enum"]))
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
        return "true or false (with snakemake --config, write True or False)"
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
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} holds a {type(data).__name__}, not a mapping of keys to values")
    return data


def load(path: str | Path) -> dict:
    return validate(with_typed_seeds(read_yaml(path)))


def with_typed_seeds(config: dict) -> dict:
    """Seeds given on the command line as integers.

    Snakemake reads `--config seeds=[0,1]` as the strings ['0', '1'] and `seeds=0,1` as one
    string, so both spellings (and `seeds=3`) are turned into a list of ints here.
    """
    value = config.get("seeds")
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    elif isinstance(value, str):
        value = [s for s in value.strip("[] ").split(",") if s.strip()]
    if isinstance(value, list) and all(isinstance(s, str) and s.strip().isdigit() for s in value):
        value = [int(s) for s in value]
    return config if value is config.get("seeds") else {**config, "seeds": value}


def merged(defaults: dict, overrides: dict) -> dict:
    """`defaults` (config.yaml) with `overrides` (--configfile, then --config) applied key by key."""
    out = dict(defaults)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def workflow_config(overrides: dict, default_file: str | Path) -> dict:
    """The workflow's config: `default_file` under Snakemake's --configfile/--config values, checked."""
    return validate(with_typed_seeds(merged(read_yaml(default_file), overrides)))


SCALE_SEEDS = {"smoke": [0], "quick": [0, 1], "paper": [0, 1, 2]}


def seeds(config: dict) -> list[int]:
    return config.get("seeds") or SCALE_SEEDS[config["scale"]]


def fetch_args(data: dict) -> list[str]:
    """config's data options as `robustrepro fetch` arguments, a list so that each item gets quoted."""
    args = ["--root", data["root"]]
    for root in data.get("shared_roots", []):
        args += ["--shared-root", root]
    return args + (["--mirror", data["mirror"]] if data.get("mirror") else [])
