"""The ``hamid`` command line: a thin shell over the Python API.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds a parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code. Subcommand modules are
imported when the parser is built but must import heavy dependencies only inside their ``run``.

Errors a user can cause (bad data, bad options) surface as one line on stderr and exit code 2; no
traceback. ``HAMID_DEBUG=1`` shows the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "CLIError", "build_parser"]

_SUBCOMMANDS = ("systems", "generate", "simulate", "discover", "sweep", "fit", "compare")


class CLIError(Exception):
    """A user error reported as one line on stderr."""


def build_parser() -> argparse.ArgumentParser:
    from hamid import __version__

    parser = argparse.ArgumentParser(
        prog="hamid",
        description="Recover closed-form Hamiltonians from data, export them, and simulate them.",
    )
    parser.add_argument("--version", action="version", version=f"hamid {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"hamid.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hamid.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def _user_errors():
    from hamid.io import DataError
    from hamid.symbolic.symbols import ExpressionError

    return (CLIError, DataError, ExpressionError, ValueError, TypeError, FileNotFoundError, PermissionError,
            IsADirectoryError)


def main(argv=None) -> int:
    """Run the ``hamid`` command line and return its exit code.

    No command: the help on stderr and exit code 2. A closed pipe on stdout (``hamid systems | head -1``)
    ends the command quietly with exit code 0, as ``head`` and ``grep -q`` expect.
    """
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            print("hamid: error: a command is required (listed above)", file=sys.stderr)
            return 2
        try:
            code = int(args.func(args) or 0)
        except KeyboardInterrupt:
            print("hamid: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            raise
        except Exception as exc:  # one line for the user; the traceback only on request
            if os.environ.get("HAMID_DEBUG"):
                raise
            kind = "error" if isinstance(exc, _user_errors()) else f"internal error ({type(exc).__name__})"
            message = " ".join(str(exc).split()) or type(exc).__name__
            print(f"hamid: {kind}: {message}", file=sys.stderr)
            return 2 if isinstance(exc, _user_errors()) else 1
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return 0


def _discard_stdout():
    """Point stdout at /dev/null: the reader has gone, and Python's final flush would fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured by a caller)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
