"""Named builders of one kind of training part (sampler, step, schedule, ...).

A part's options are the keyword-only parameters of its builder, so the signature is the
contract: a run config section {"name": ..., **options} is checked against it and an unknown
or missing option fails with a message naming the key.
"""

from __future__ import annotations

import inspect
from typing import Callable

from robustrepro.errors import UserError, unknown_choice


def check_options(key: str, name: str | None, builder: Callable, options: dict) -> None:
    """Raise UserError unless `options` are exactly what `builder` accepts as keyword-only arguments.

    `name` is the part's registered name, None for a section that has no name (early_stopping).
    """
    params = [p for p in inspect.signature(builder).parameters.values() if p.kind is p.KEYWORD_ONLY]
    known = [p.name for p in params]
    what = key if name is None else f"{key} {name!r}"
    for option in options:
        if option not in known:
            its = f"its options are: {', '.join(known)}" if known else "it takes no options"
            raise UserError(f"{key}.{option}: {what} has no option {option!r}; {its}")
    for p in params:
        if p.default is p.empty and p.name not in options:
            raise UserError(f"{key}.{p.name}: {what} needs this option")


class Registry:
    """name -> builder for one kind of part; `key` is its run config key, used in error messages."""

    def __init__(self, key: str):
        self.key = key
        self.builders: dict[str, Callable] = {}

    def register(self, name: str) -> Callable:
        def add(builder: Callable) -> Callable:
            if name in self.builders:
                raise ValueError(f"{self.key} {name!r} is registered twice")
            self.builders[name] = builder
            return builder

        return add

    def __contains__(self, name: str) -> bool:
        return name in self.builders

    def names(self) -> list[str]:
        return sorted(self.builders)

    def build(self, config: dict, *args):
        """builder(*args, **options) for config = {"name": ..., **options}."""
        if not isinstance(config, dict):
            raise UserError(f"{self.key}: expected a mapping with a 'name' key; got {config!r}")
        options = dict(config)
        name = options.pop("name", None)
        if name not in self.builders:
            raise unknown_choice(f"{self.key}.name", name, self.builders)
        check_options(self.key, name, self.builders[name], options)
        return self.builders[name](*args, **options)
