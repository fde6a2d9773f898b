"""fetch for real: downloads over HTTP from a local server on 127.0.0.1, checksums, offline errors.

The dataset here is a DatasetInfo made for the test (tiny MNIST-format files and their MD5s)
and handed to fetch directly, so nothing in the library is patched.
"""

import dataclasses
import gzip
import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from robustrepro.data import DATASETS, DatasetInfo, RawFile, fetch, prepare, verify_present
from robustrepro.data.download import mirror_url
from robustrepro.errors import UserError

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]


def _idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _tiny_mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        out[f"{prefix}-images-idx3-ubyte.gz"] = _idx_gz(rng.integers(0, 256, (n, 28, 28)))
        out[f"{prefix}-labels-idx1-ubyte.gz"] = _idx_gz(np.arange(n) % 10)
    return out


CONTENT = _tiny_mnist_files()


def tiny_info(official_base: str) -> DatasetInfo:
    """MNIST's shape and classes, the tiny files' MD5s; "official" URLs under official_base."""
    files = tuple(RawFile(f"Tiny/raw/{f}", hashlib.md5(CONTENT[f]).hexdigest(), (f"{official_base}/{f}",))
                  for f in FILES)
    return DatasetInfo("tiny", 1, 28, DATASETS["mnist"].classes, reader="idx", folder="Tiny/raw", files=files)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, served folder, stop())."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            httpd.shutdown()
            httpd.server_close()  # the port now refuses connections
            stopped.append(True)

    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, stop
    stop()


def _serve(www: Path, relative: str, files: dict[str, bytes]) -> None:
    (www / relative).mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (www / relative / name).write_bytes(content)


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.part"))


def test_download_from_a_mirror_verifies_and_the_files_then_prepare(server, tmp_path):
    base, www, stop = server
    _serve(www, "mirror/Tiny/raw", CONTENT)  # a mirror keeps the data root's relative paths
    info, root = tiny_info(f"{base}/unused"), tmp_path / "data"
    paths = fetch(info, root, mirror=f"{base}/mirror", progress=False)
    assert paths == [root / "Tiny" / "raw" / f for f in FILES]
    assert [p.read_bytes() for p in paths] == [CONTENT[f] for f in FILES] and _leftovers(root) == []
    stop()  # present files are verified without any network
    assert fetch(info, root, mirror=f"{base}/mirror", progress=False) == paths
    data = prepare(info, root, tmp_path / "tiny.npz", progress=False)
    assert data.train_x.shape == (6, 1, 28, 28) and data.test_y.tolist() == [0, 1, 2, 3]


def test_download_from_the_official_urls_tries_each_in_turn(server, tmp_path, capsys):
    base, www, _ = server
    _serve(www, "second", CONTENT)
    info = tiny_info(f"{base}/second")
    # Every file's first official location answers 404, as a dead mirror would.
    info = dataclasses.replace(info, files=tuple(
        RawFile(f.path, f.md5, (f"{base}/gone/{Path(f.path).name}", *f.urls)) for f in info.files))
    paths = fetch(info, tmp_path / "data", progress=True)
    assert [p.read_bytes() for p in paths] == [CONTENT[f] for f in FILES]
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar went to stderr


def test_a_local_directory_works_as_a_mirror(tmp_path):
    mirror = tmp_path / "copy-of-a-data-root"
    _serve(mirror, "Tiny/raw", CONTENT)
    info = tiny_info("http://127.0.0.1:9/unused")
    assert mirror_url(str(mirror), info.files[0]) == f"{mirror.resolve().as_uri()}/Tiny/raw/{FILES[0]}"
    paths = fetch(info, tmp_path / "data", mirror=str(mirror), progress=False)
    assert [p.read_bytes() for p in paths] == [CONTENT[f] for f in FILES]


def test_a_download_with_the_wrong_content_is_rejected_and_never_saved(server, tmp_path):
    base, www, _ = server
    _serve(www, "mirror/Tiny/raw", {**CONTENT, FILES[0]: CONTENT[FILES[0]][:-50]})  # truncated on the server
    info, root = tiny_info(base), tmp_path / "data"
    bad_md5 = hashlib.md5(CONTENT[FILES[0]][:-50]).hexdigest()
    with pytest.raises(UserError) as err:
        fetch(info, root, mirror=f"{base}/mirror", progress=False)
    message = str(err.value)
    assert FILES[0] in message and bad_md5 in message and info.files[0].md5 in message
    assert not (root / info.files[0].path).exists() and _leftovers(root) == []


def test_a_corrupt_local_file_is_never_used_nor_replaced(server, tmp_path):
    base, www, _ = server
    _serve(www, "mirror/Tiny/raw", CONTENT)
    info, root = tiny_info(base), tmp_path / "data"
    corrupt = root / info.files[1].path
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(CONTENT[FILES[1]][:-10])  # e.g. an interrupted copy
    with pytest.raises(UserError) as err:
        fetch(info, root, mirror=f"{base}/mirror", progress=False)
    message = str(err.value)
    assert str(corrupt) in message and hashlib.md5(corrupt.read_bytes()).hexdigest() in message
    assert info.files[1].md5 in message and "delete it" in message
    assert corrupt.read_bytes() == CONTENT[FILES[1]][:-10]
    with pytest.raises(UserError, match="delete it"):
        verify_present(info, root)


def test_offline_without_the_files_names_the_folder_the_files_and_the_url(server, tmp_path):
    base, _, stop = server
    stop()  # connection refused from now on
    info, root = tiny_info(base), tmp_path / "data"
    (root / "Tiny" / "raw").mkdir(parents=True)
    (root / info.files[2].path).write_bytes(CONTENT[FILES[2]])  # one file is already there
    with pytest.raises(UserError) as err:
        fetch(info, root, mirror=f"{base}/mirror", progress=False)
    message = str(err.value)
    assert str(root) in message and f"{base}/mirror/Tiny/raw/{FILES[0]}" in message
    assert all(f"Tiny/raw/{f}" in message for f in (FILES[0], FILES[1], FILES[3]))
    assert f"Tiny/raw/{FILES[2]}" not in message  # present and fine: not reported missing
    assert "data.mirror" in message and "data.root" in message and "\n" not in message
    assert _leftovers(root) == []


def test_verify_present_never_downloads(tmp_path):
    info = tiny_info("http://127.0.0.1:9")
    with pytest.raises(UserError, match=r"missing under .*Tiny/raw/train-images-idx3-ubyte\.gz"):
        verify_present(info, tmp_path)
    _serve(tmp_path, "Tiny/raw", CONTENT)
    assert verify_present(info, tmp_path) == [tmp_path / f.path for f in info.files]
