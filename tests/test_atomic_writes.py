"""Every file the package writes goes through robustrepro.files (a temporary file renamed over the
target), so that a reader never sees half a file and a killed writer leaves the old one whole.

A static check over the package's source: no direct write_text/write_bytes, no to_csv to a path,
no open() for writing, and numpy/torch/matplotlib savers only into a file object (the one
atomic_open or atomic_write hands over). Logs, which stream while a job runs, are the exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

import robustrepro

SRC = Path(robustrepro.__file__).parent
SAVERS = {"save", "savez", "savez_compressed", "savefig"}
# (file, line's call) that may write directly: a job's log is streamed, not replaced.
STREAMED = {("inprocess.py", "open")}


def _mode(call: ast.Call) -> str:
    args = [*call.args[1:2], *[k.value for k in call.keywords if k.arg == "mode"]]
    if call.func.__class__ is ast.Attribute:  # Path.open(mode)
        args = [*call.args[:1], *[k.value for k in call.keywords if k.arg == "mode"]]
    return next((a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)), "r")


def direct_writes(path: Path, root: Path = SRC) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        where = f"{path.relative_to(root)}:{node.lineno} {name}"
        if name in ("write_text", "write_bytes"):
            found.append(where)
        elif name == "to_csv" and (node.args or any(k.arg == "path_or_buf" for k in node.keywords)):
            found.append(where)
        elif name == "open" and set(_mode(node)) & set("wax") and (path.name, name) not in STREAMED:
            found.append(where)
        elif name in SAVERS and node.args and not isinstance(node.args[0], ast.Name):
            found.append(where)
    return found


def test_every_file_is_written_through_the_atomic_writer():
    found = [w for path in sorted(SRC.rglob("*.py")) if path.name != "files.py" for w in direct_writes(path)]
    assert not found, "write these through robustrepro.files (atomic_write_text, atomic_open): " + ", ".join(found)


def test_the_check_finds_direct_writes(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("import numpy as np\nfrom pathlib import Path\n"
                      "def f(table, fig, x):\n"
                      "    Path('a').write_text('x')\n    table.to_csv('b.csv')\n    open('c', 'w')\n"
                      "    Path('d').open('a')\n    np.save('e.npy', x)\n    fig.savefig(Path('f.pdf'))\n"
                      "    table.to_csv(index=False)\n    open('g')\n")
    names = [w.split(" ")[-1] for w in direct_writes(module, tmp_path)]
    assert names == ["write_text", "to_csv", "open", "open", "save", "savefig"]
