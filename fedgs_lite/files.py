"""Safe file writes: atomic replacement (never half a file) and folder locks (never two writers).

`atomic_write` goes through a temp file `.<name>.<8 hex>.tmp` and `os.replace`; a process killed in
between leaves that temp file behind, which `remove_orphaned_temps` clears (call it while holding the
folder's lock). `lock_folder` takes an OS lock (flock) on `<folder>/.lock`, so a second process that
would write the same run or grid folder stops at once with a one-line `FolderBusyError`; the OS
releases the lock when the holder exits, even after a crash or `kill -9`. The lock file itself stays.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows): folders are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # what _create_temp names its files


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside `path` with the mode a plain ``open(path, "w")`` would leave: the
    mode of the file it replaces, else 0666 less the umask (``tempfile.mkstemp`` would make it 0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = None
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        break
    if mode is not None:
        try:
            os.chmod(tmp, mode)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
    return fd, tmp


def atomic_write(path: Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Write through a temp file in the same folder (created when missing), then os.replace: readers
    never see half a file, and a failed write leaves neither a partial file nor the temp file. The file
    gets the usual mode (the umask's, or that of the file it replaces), not a temp file's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def remove_orphaned_temps(folder: Path) -> list[Path]:
    """Delete the temp files interrupted atomic writes left in `folder`; returns them. Only safe while
    no other process writes there (hold the folder's lock)."""
    found = [p for p in Path(folder).glob(".*.tmp") if TEMP_NAME.match(p.name) and p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


class FolderBusyError(RuntimeError):
    """Another process holds the folder's lock (it is writing there now)."""


class FolderLock:
    """A held lock on a folder: `release()` (or leaving the `with` block) frees it; so does the exit of
    the process, however it ends."""

    def __init__(self, folder: Path, handle: IO[str] | None):
        self.folder, self.handle = folder, handle

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_folder(folder: str | Path, what: str = "folder") -> FolderLock:
    """Lock `folder` (created when missing) for this process, or raise FolderBusyError at once, naming the
    process that holds it. A second lock on the same folder from this same process is refused too."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_FILE, "a+")  # held open as long as the lock
    if fcntl is None:  # pragma: no cover
        return FolderLock(folder, handle)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        pid = f" (pid {holder})" if holder.isdigit() else ""
        raise FolderBusyError(f"{what} {folder} is in use by another fedgs_lite process{pid}; wait for it "
                              "to finish or use another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return FolderLock(folder, handle)


def topmost_missing(path: Path) -> Path | None:
    """The outermost folder on the way to `path` that does not exist yet (what making it creates)."""
    return next((p for p in reversed([path, *path.parents]) if not p.exists()), None)


def new_folder(base: Path, name: str) -> Path:
    """A new folder base/name, or base/name-2, -3... when that exists (two processes starting in the same
    second with the same name get different folders: mkdir is atomic)."""
    for i in itertools.count(1):
        path = Path(base) / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")
