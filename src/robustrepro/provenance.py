"""What a result was computed from: digests of its input files and a fingerprint of the code.

A checkpoint is only worth resuming, and a number only worth reporting, when it comes from the
same data and the same code as the run asks for now. The code fingerprint is the package
version plus a hash of the code a computation runs: the modules its entry package imports,
transitively (any import, at the top or inside a function), each as its syntax tree without
docstrings. So an edit that can change a number counts, uncommitted or not, and one that cannot
(a comment, a docstring, blank lines, a module the computation never imports, such as the
report or a paper's spec) does not; it is available outside a git checkout too.

Imports neither torch nor numpy: the data layer and the workflow may use it.
"""

from __future__ import annotations

import ast
import datetime
import functools
import hashlib
import pkgutil
import os
import socket
from pathlib import Path

import robustrepro
from robustrepro.errors import UserError
from robustrepro.files import file_digest

PACKAGE_ROOT = Path(robustrepro.__file__).resolve().parent


# What each kind of job computes with: the entry packages whose imports its fingerprint follows.
TRAINING = ("robustrepro.training",)
EVALUATION = ("robustrepro.evaluation.run",)
EXTRACTION = ("robustrepro.extraction",)
CLUSTERING = ("robustrepro.selection.clustering",)
JOBS = {"prepare": ("robustrepro.data",), "view": ("robustrepro.noise", "robustrepro.views"), "train": TRAINING,
        "evaluate": EVALUATION, "extract": EXTRACTION, "cluster": CLUSTERING}


def _module_path(module: str, root: Path) -> Path | None:
    parts = module.split(".")[1:]
    package = root.joinpath(*parts, "__init__.py")
    if package.is_file():
        return package
    file = root.joinpath(*parts[:-1], f"{parts[-1]}.py") if parts else None
    return file if file is not None and file.is_file() else None


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The robustrepro modules a module's tree imports (absolute and relative, at any depth)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*parent, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name == "robustrepro" or name.startswith("robustrepro.")}


def _imported_all(tree: ast.AST, module: str, path: Path) -> set[str]:
    """Every module of a package whose __init__ calls robustrepro.registry.import_all: it imports them
    at run time (so that each registers its parts), where no import statement names them."""
    calls = any(isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "import_all"
                for node in ast.walk(tree))
    if not calls or path.name != "__init__.py":
        return set()
    return {f"{module}.{info.name}" for info in pkgutil.iter_modules([str(path.parent)])}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=None)
def _parsed(path: Path, name: str, stamp: tuple) -> tuple[str, tuple[str, ...]]:
    """(normalised syntax tree, the robustrepro modules it imports) of module `name` at `path`, parsed
    once per version of the file (`stamp`: its mtime and size) in this process."""
    tree = ast.parse(path.read_text(), str(path))
    imports = tuple(sorted(_imports(tree, name, path.name == "__init__.py") | _imported_all(tree, name, path)))
    return ast.dump(_without_docstrings(tree)), imports


def _module(path: Path, name: str) -> tuple[str, tuple[str, ...]]:
    stat = path.stat()
    return _parsed(path, name, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=None)
def source_hash(root: Path = PACKAGE_ROOT, entries: tuple[str, ...] | None = None) -> str:
    """sha256 over the name and normalised syntax tree of every module that `entries` import,
    transitively, within the package at `root` (None: every module of the package), in name order."""
    root = Path(root)
    if entries is None:
        modules = {".".join(("robustrepro", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
                   for p in root.rglob("*.py")}
    else:
        modules, todo = set(), list(entries)
        while todo:
            name = todo.pop()
            path = _module_path(name, root)
            if name in modules or path is None:
                continue
            modules.add(name)
            todo += _module(path, name)[1]
            todo += [".".join(name.split(".")[:i]) for i in range(2, len(name.split(".")))]  # parents run first
    digest = hashlib.sha256()
    for name in sorted(modules):
        path = _module_path(name, root)
        if path is None:
            continue
        normal = _module(path, name)[0]
        # Name and length framed, so moving code from one module to the next changes the hash.
        digest.update(f"{name}\0{len(normal)}\0{normal}".encode())
    return digest.hexdigest()


def code_fingerprint(root: Path = PACKAGE_ROOT, entries: tuple[str, ...] | None = TRAINING) -> dict[str, str]:
    """The code that computes a result: the package version and the hash of the modules `entries` import
    (once per process: an edit while a process runs shows in the next process)."""
    return {"robustrepro": robustrepro.__version__, "source_sha256": source_hash(Path(root), entries)}


def job_code(kind: str) -> str:
    """The code a kind of workflow job (a key of JOBS) computes with, as one of its params: Snakemake
    reruns a finished job whose params changed, saying so, so a code edit that can change a number
    reruns what it feeds and nothing else (`--rerun-triggers mtime input` keeps finished results)."""
    return f"robustrepro {robustrepro.__version__}, code {source_hash(PACKAGE_ROOT, JOBS[kind])[:16]}"


def input_digests(**paths) -> dict[str, str]:
    """sha256 of each named input file, e.g. input_digests(prepared=..., view=...); None paths are left out."""
    for name, path in paths.items():
        if path is not None and not Path(path).is_file():
            raise UserError(f"{name} file {path} is missing; build it with the workflow")
    return {name: file_digest(path) for name, path in paths.items() if path is not None}


def now() -> str:
    """A wall-clock time stamp for provenance records: UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def process_info() -> dict:
    """Who is computing: host and pid."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def differences(recorded: dict | None, current: dict, what: str) -> list[str]:
    """Readable lines for each key of `current` that `recorded` lacks or holds another value for.

    A key only one side has counts too: a clustering file now given that the record lacks means
    the record is of another computation.
    """
    recorded = recorded or {}
    lines = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if old != new:
            lines.append(f"{what} {key} was {_short(old)}, is now {_short(new)}")
    return lines


def _short(value) -> str:
    if value is None:
        return "not recorded"
    text = str(value)
    return text[:12] if len(text) == 64 else text  # a sha256 is told apart by its first 12 digits
