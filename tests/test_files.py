"""Atomic writes: the whole new file or the untouched old one, never a temp file left behind."""

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
