"""Atomic writes: unique temporary names, nothing left behind on failure, digests."""

import hashlib
import threading

import pytest

from robustrepro.files import atomic_open, atomic_write_text, file_digest


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_two_writers_of_one_file_both_finish_with_a_whole_file(tmp_path):
    path = tmp_path / "out.txt"
    inside = threading.Barrier(2)

    def write(text):
        with atomic_open(path) as f:
            f.write(text.encode())
            inside.wait(timeout=10)  # both temporaries exist at once: a fixed name would collide

    threads = [threading.Thread(target=write, args=(t,)) for t in ("a" * 1000, "b" * 1000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in ("a" * 1000, "b" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(bytes(range(256)) * 5000)
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(path, "md5") == hashlib.md5(path.read_bytes()).hexdigest()


def test_written_files_get_the_usual_permissions_not_private_ones(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644
