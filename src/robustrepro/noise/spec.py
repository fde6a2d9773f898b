"""Reading a view spec: every value is checked where it is read, and a bad one names its key."""

from __future__ import annotations

import numbers

from robustrepro.errors import UserError, unknown_choice

REQUIRED = object()  # marks a parameter that has no default


def section(value, key: str, kinds: dict[str, dict]) -> tuple[str, dict]:
    """Split a `{"kind": ..., **params}` section into its kind and its params (defaults filled in).

    `kinds` maps each kind to its parameters and their defaults (REQUIRED: no default).
    """
    if not isinstance(value, dict) or "kind" not in value:
        raise UserError(f"{key}: expected a mapping with a 'kind' (one of: {', '.join(sorted(kinds))}), got {value!r}")
    kind = value["kind"]
    if kind not in kinds:
        raise unknown_choice(f"{key}.kind", kind, kinds)
    allowed = kinds[kind]
    for name in value:
        if name != "kind" and name not in allowed:
            raise UserError(f"{key}.{name}: not a parameter of {key} kind {kind!r}; "
                            f"its parameters: {', '.join(allowed) or 'none'}")
    for name, default in allowed.items():
        if default is REQUIRED and name not in value:
            raise UserError(f"{key}.{name}: required by {key} kind {kind!r}")
    return kind, {name: value.get(name, default) for name, default in allowed.items()}


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def fraction(key: str, value) -> float:
    """A number in [0, 1]."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise UserError(f"{key}: {value!r} is not a number; give a fraction in [0, 1]")
    if not 0 <= value <= 1:
        raise UserError(f"{key}: {value} is outside [0, 1]")
    return float(value)


def count(key: str, value, *, at_least: int = 0) -> int:
    """An integer >= at_least."""
    if not is_int(value):
        raise UserError(f"{key}: {value!r} is not an integer; give a whole number >= {at_least}")
    if value < at_least:
        raise UserError(f"{key}: {value} is below {at_least}; give a whole number >= {at_least}")
    return int(value)


def class_index(key: str, value, num_classes: int) -> int:
    """A class of the view, 0 .. num_classes - 1."""
    if not is_int(value) or not 0 <= value < num_classes:
        raise UserError(f"{key}: {value!r} is not a class here; give an integer in 0 .. {num_classes - 1}")
    return int(value)
