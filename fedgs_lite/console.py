"""How the command line talks to a person: one-line errors and warnings, exit codes, Ctrl-C and SIGTERM.

`guarded(command, args, argv)` runs one command: a mistake the user can fix (a bad argument, a missing
dataset, a busy or foreign folder) prints `error: <one line>` and exits with status 2; a warning prints
`warning: <one line>`; Ctrl-C (130) and SIGTERM (143) stop training the same way, results so far kept,
and say what continues it. Nothing here knows the commands; cli.py does.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

from fedgs_lite.files import FolderBusyError

# What a person can fix: printed as one line with exit status 2. ImportError is an optional package
# that a chosen option needs (the message says what to pip install).
# Path mistakes (a file where a folder should be, no permission) count too.
USAGE_ERRORS = (ValueError, FolderBusyError, ImportError, FileNotFoundError, FileExistsError,
                NotADirectoryError, IsADirectoryError, PermissionError)
EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that a terminated run saves what Ctrl-C saves."""


def invoked_name() -> str:
    """The command as typed: `fedgs-lite` for the installed script, else `python -m fedgs_lite`."""
    return "fedgs-lite" if Path(sys.argv[0]).name == "fedgs-lite" else "python -m fedgs_lite"


class Parser(argparse.ArgumentParser):
    """argparse, with a bad flag or value reported like every other mistake: one line, status 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def one_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return " ".join(lines) if lines else type(err).__name__


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {one_line(message) if isinstance(message, Warning) else message}", file=sys.stderr)


@contextmanager
def console():
    """Warnings as one line each; SIGTERM raises Terminated (the previous handlers come back after)."""
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum, frame):
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave SIGTERM alone
        previous = None
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def resume_hint(args, argv: Sequence[str]) -> str:
    """What continues an interrupted command: the same command, or it with the --out it just wrote."""
    out = getattr(args, "chosen_out", None)
    if out is None:
        return "run the same command again to continue"
    return f"continue with: {shlex.join([*invoked_name().split(), *argv, '--out', str(out)])}"


def guarded(command: Callable[..., int | None], args, argv: Sequence[str]) -> int:
    """Run a command function; its exit status, mistakes and interrupts turned into one line each."""
    with console():
        try:
            return int(command(args) or 0)
        except USAGE_ERRORS as err:
            print(f"error: {one_line(err)}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as err:
            what = "terminated" if isinstance(err, Terminated) else "interrupted"
            if getattr(args, "saves_results", True):
                print(f"\n{what}: results so far are saved; {resume_hint(args, argv)}", file=sys.stderr)
            else:
                print(f"\n{what}: nothing was saved; run the same command again", file=sys.stderr)
            return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
