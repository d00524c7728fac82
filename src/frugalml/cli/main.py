"""Entry point of ``frugal``: lazy command groups and one-line errors.

Each command lives in its own module and is imported only when invoked, so
``frugal --help`` and ``frugal runs`` stay fast. Any :class:`FrugalError` becomes one
line on stderr: exit 2 for bad input, 1 otherwise; never a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import sys
from typing import Any

import click

from frugalml import _fmt

# name -> (module, attribute, one-line help shown without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("frugalml.cli.demo", "demo", "Run the main job on its built-in default."),
    "run": ("frugalml.cli.run", "run", "Run a command and measure its energy and carbon."),
    "runs": ("frugalml.cli.runs", "runs", "List runs in the registry."),
    "show": ("frugalml.cli.runs", "show", "Show one run with its components."),
    "regions": ("frugalml.cli.regions", "regions", "List the grid-intensity regions."),
    "flops": ("frugalml.cli.flops", "flops", "Count FLOPs, MACs, parameters and bytes of a model."),
    "bench": ("frugalml.cli.bench", "bench", "Measure what each technique saves."),
    "report": ("frugalml.cli.report", "report", "Write an HTML/Markdown/JSON report."),
    "search": ("frugalml.cli.search", "search", "Energy-aware hyperparameter/architecture search."),
    "advise": (
        "frugalml.cli.advise",
        "advise",
        "Advise where, when and how a run would cost less.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name][0])]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _module_exists(COMMANDS[cmd_name][0]):
            return None
        module, attr, _ = COMMANDS[cmd_name]
        cmd = getattr(importlib.import_module(module), attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            # Like a mistyped option: name the closest commands.
            name = args[0] if args else ""
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.5)
            if close and not name.startswith("-"):
                raise click.UsageError(
                    f"No such command {_fmt.safe(name)!r}. Did you mean "
                    + " or ".join(repr(c) for c in close)
                    + "?",
                    ctx=e.ctx,
                ) from None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="frugalml")
def cli(verbose: int) -> None:
    """frugalml: measure, explain and cut the energy and carbon cost of ML."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="frugal: %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; turn library errors into one line and an exit code."""
    from frugalml.errors import FrugalError, InputError

    try:
        rv = cli.main(args=argv, prog_name="frugal", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        setattr(e, "message", _fmt.safe(e.message, multiline=True))  # noqa: B010 - a Final in stubs
        e.show()
        sys.exit(e.exit_code)
    except InputError as e:
        click.echo(f"Error: {_fmt.safe(e, multiline=True)}", err=True)
        sys.exit(2)
    except FrugalError as e:
        click.echo(f"Error: {_fmt.safe(e, multiline=True)}", err=True)
        sys.exit(1)
    # A command returns an int exit code (``frugal run`` returns the child's).
    sys.exit(rv if isinstance(rv, int) else 0)
