"""Atomic writes: the whole new file or the untouched old one, never a temp file left behind."""

import os
import stat
from contextlib import contextmanager

import pytest

from fedgs_lite.files import atomic_write, atomic_write_text


def test_atomic_write_text_creates_the_folder_and_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    atomic_write_text(target, "one\n")
    atomic_write_text(target, "two\n")
    assert target.read_text() == "two\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write(target, lambda f: f.write(b"old"), binary=True)

    def half_then_fail(f):
        f.write(b"new but incomplete")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half_then_fail, binary=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


@contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)],
                         ids=["umask022", "umask002", "umask077"])
def test_a_new_file_gets_the_umask_mode_not_a_temp_files_0600(tmp_path, mask, mode):
    with _umask(mask):
        atomic_write_text(tmp_path / "summary.csv", "a,b\n")
        atomic_write(tmp_path / "model.pt", lambda f: f.write(b"\0"), binary=True)
    for name in ("summary.csv", "model.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_rewriting_a_file_keeps_its_mode(tmp_path):
    target = tmp_path / "config.json"
    with _umask(0o022):
        atomic_write_text(target, "{}")
        target.chmod(0o640)
        atomic_write_text(target, '{"lr": 0.1}')
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == '{"lr": 0.1}'
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
