"""Checks of the numbers a config section gives a part, with one message format for every part.

`key` is the dotted config key ("optimizer.lr"), so the error names what to change. Bounds are
closed unless `above`/`below` are used: `number("x", v, at_least=0, below=1)` is [0, 1).
"""

from __future__ import annotations

from numbers import Real

from robustrepro.errors import UserError


def _bounds(at_least, above, at_most, below) -> str:
    low = f">= {at_least}" if at_least is not None else f"> {above}" if above is not None else ""
    high = f"<= {at_most}" if at_most is not None else f"< {below}" if below is not None else ""
    return " and ".join(b for b in (low, high) if b)


def _within(value, at_least, above, at_most, below) -> bool:
    return ((at_least is None or value >= at_least) and (above is None or value > above)
            and (at_most is None or value <= at_most) and (below is None or value < below))


def _message(key: str, kind: str, bounds: str, meaning: str | None, value) -> str:
    what = f"{kind}{' ' + bounds if bounds else ''}"
    return f"{key}: {meaning + ', ' + what if meaning else 'must be ' + what}; got {value!r}"


def number(key: str, value, *, at_least: float | None = None, above: float | None = None,
           at_most: float | None = None, below: float | None = None, meaning: str | None = None) -> float:
    """`value` as a float, or a UserError naming `key`, what it means and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, Real) or not _within(value, at_least, above, at_most, below):
        raise UserError(_message(key, "a number", _bounds(at_least, above, at_most, below), meaning, value))
    return float(value)


def integer(key: str, value, *, at_least: int | None = None, at_most: int | None = None,
            meaning: str | None = None) -> int:
    """`value` as an int (not a bool, not a float), or a UserError naming `key` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, at_least, None, at_most, None):
        raise UserError(_message(key, "an integer", _bounds(at_least, None, at_most, None), meaning, value))
    return value

