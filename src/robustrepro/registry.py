"""Named builders of one kind of part: training parts, models, label-noise and shaping kinds.

A part's options are the keyword-only parameters of its builder, so the signature is the
contract: a config section {"name": ..., **options} (or {"kind": ..., **options} where the
section names its choice by kind) is checked against it and an unknown or missing option fails
with a message naming the key. Positional parameters are what the caller always supplies (the
training context, the optimizer's parameters, the input shape), never config.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Callable, Iterator

from robustrepro.errors import UserError, unknown_choice


def _keyword_only(builder: Callable) -> list[inspect.Parameter]:
    return [p for p in inspect.signature(builder).parameters.values() if p.kind is p.KEYWORD_ONLY]


def check_options(key: str, name: str | None, builder: Callable, options: dict, field: str = "name") -> None:
    """Raise UserError unless `options` are exactly what `builder` accepts as keyword-only arguments.

    `name` is the part's registered name, None for a section that has no name (early_stopping);
    `field` is the config key that holds the name, shown in messages when it is not "name".
    """
    params = _keyword_only(builder)
    known = [p.name for p in params]
    what = key if name is None else f"{key} {name!r}" if field == "name" else f"{key} {field} {name!r}"
    for option in options:
        if option not in known:
            its = f"its options are: {', '.join(known)}" if known else "it takes no options"
            raise UserError(f"{key}.{option}: {what} has no option {option!r}; {its}")
    for p in params:
        if p.default is p.empty and p.name not in options:
            raise UserError(f"{key}.{p.name}: {what} needs this option")


class Registry:
    """name -> builder for one kind of part.

    `key` is its config key and `field` the key inside that section naming the choice, both used
    in error messages: Registry("sampler") reads {"name": "shuffle"} under `sampler`,
    Registry("noise", field="kind") reads {"kind": "uniform", "rate": 0.4} under `noise`.
    """

    def __init__(self, key: str, field: str = "name"):
        self.key = key
        self.field = field
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

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.builders)

    def names(self) -> list[str]:
        return sorted(self.builders)

    def builder(self, name) -> Callable:
        """The builder registered as `name`, or a UserError listing the choices."""
        if name not in self.builders:
            raise unknown_choice(f"{self.key}.{self.field}", name, self.builders)
        return self.builders[name]

    def options(self, name) -> list[str]:
        """The options `name` takes: its builder's keyword-only parameters, in signature order."""
        return [p.name for p in _keyword_only(self.builder(name))]

    def build(self, config: dict, *args):
        """builder(*args, **options) for config = {field: name, **options}."""
        if not isinstance(config, dict) or self.field not in config:
            raise UserError(f"{self.key}: expected a mapping with a {self.field!r} key (one of: "
                            f"{', '.join(self.names())}); got {config!r}")
        options = dict(config)
        name = options.pop(self.field)
        builder = self.builder(name)
        check_options(self.key, name, builder, options, self.field)
        return builder(*args, **options)


def import_all(package: str, paths) -> list[str]:
    """Import every module of a package (its `__name__` and `__path__`), so that each registers
    its parts: adding a method is adding a file, with no list of modules to keep up to date."""
    names = sorted(info.name for info in pkgutil.iter_modules(paths))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
