"""`python -m fedgs_lite <command>`: the kit's command line.

Each subcommand lives in the module of its idea, which exposes `configure_parser(parser)` and
`main(args) -> int`; this file only wires them together and imports them when they are used.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

SUBCOMMANDS = {
    "run": ("fedgs_lite.run_cli", "train samplers side by side on one dataset and availability mode"),
    "simulate": ("fedgs_lite.simulate", "sampling only (no training): who gets picked under a mode"),
    "reproduce": ("fedgs_lite.reproduce", "run the paper's grid (resumable) and write results/"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedgs_lite",
        description="fedgs_lite: client sampling under intermittent availability (FedGS, AAAI 2023). "
                    "`python -m fedgs_lite COMMAND --help` shows a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        import_module(module).configure_parser(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(import_module(args._module).main(args) or 0)
    except KeyboardInterrupt:
        # run_experiment has already saved what it had; finished runs are reused on the next call
        print("\ninterrupted: results so far are saved; run the same command again to continue",
              file=sys.stderr)
        return 130
