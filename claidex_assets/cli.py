"""Command line entry point: ``claidex <command>``.

Each command group lives next to the code it drives and registers itself
here, so this module only dispatches and turns known errors into one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from claidex_assets.errors import ClaidexError

# Modules that define ``register(subparsers)``; each adds its own commands.
COMMAND_MODULES = [
    "claidex_assets.sources.commands",
    "claidex_assets.sources.generator_commands",
    "claidex_assets.pipeline_commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claidex", description="Claidex provider risk pipeline: load sources, run the asset graph, inspect results."
    )
    parser.add_argument("--traceback", action="store_true", help="show the full Python traceback on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Database migrations and beta notices are noise for a command-line user.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    try:
        return int(args.handler(args) or 0)
    except ClaidexError as exc:
        if args.traceback:
            raise
        # One line: libpq and driver messages can carry line breaks and tabs.
        print(f"claidex: error: {' '.join(str(exc).split())}", file=sys.stderr)
        print("(rerun with --traceback for details)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
