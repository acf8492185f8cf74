"""The ``rnnkit`` command. Each sub-command lives in ``cli/<name>.py`` and offers
``add_parser(subparsers)`` and ``run(args) -> int``; heavy imports stay inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order of `rnnkit --help`.
COMMANDS = ["info", "datasets", "train", "evaluate", "predict", "tour", "bench", "export"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    from rnnkit import __version__

    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks for every shape of sequence problem.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"rnnkit.cli.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    command = None
    try:  # Ctrl-C while the parser's sub-commands import torch is an interrupt too, not a traceback
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command
        if command is None:
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except CLIError as e:
        print(f"rnnkit {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnkit{'' if command is None else ' ' + command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rnnkit predict ... | head`: the reader has gone, which is no error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141


if __name__ == "__main__":
    sys.exit(main())
