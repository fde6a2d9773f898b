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


def load(path: str | Path) -> dict:
    path = Path(path)
    try:
        return validate(yaml.safe_load(path.read_text()) or {})
    except FileNotFoundError:
        raise UserError(f"config file {path} not found") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None


SCALE_SEEDS = {"smoke": [0], "quick": [0, 1], "paper": [0, 1, 2]}


def seeds(config: dict) -> list[int]:
    return config.get("seeds") or SCALE_SEEDS[config["scale"]]
