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


def number(key: str, value, *, at_least: float | None = None, above: float | None = None,
           at_most: float | None = None, below: float | None = None) -> float:
    """`value` as a float, or a UserError naming `key` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, Real) or not _within(value, at_least, above, at_most, below):
        bounds = _bounds(at_least, above, at_most, below)
        raise UserError(f"{key}: must be a number{' ' + bounds if bounds else ''}; got {value!r}")
    return float(value)


def integer(key: str, value, *, at_least: int | None = None, at_most: int | None = None) -> int:
    """`value` as an int (not a bool, not a float), or a UserError naming `key` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, at_least, None, at_most, None):
        bounds = _bounds(at_least, None, at_most, None)
        raise UserError(f"{key}: must be an integer{' ' + bounds if bounds else ''}; got {value!r}")
    return value

