"""The ``gitreg`` command line: parse, call one Registry method, render. No logic lives here."""

from __future__ import annotations

import gc
import os
import sys

import click

from gitreg.cli.ab_commands import AB_COMMANDS
from gitreg.cli.alias_commands import ALIAS_COMMANDS
from gitreg.cli.annotate_commands import ANNOTATE_COMMANDS
from gitreg.cli.commands import COMMANDS
from gitreg.cli.completion_commands import COMPLETION_COMMANDS
from gitreg.cli.completion_commands import install as install_completion
from gitreg.cli.help_sections import format_sections
from gitreg.cli.integration_commands import INTEGRATION_COMMANDS
from gitreg.cli.lifecycle_commands import LIFECYCLE_COMMANDS
from gitreg.cli.query_commands import QUERY_COMMANDS
from gitreg.cli.remote_commands import REMOTE_COMMANDS
from gitreg.cli.sign_commands import SIGN_COMMANDS
from gitreg.cli.stage_commands import STAGE_COMMANDS
from gitreg.cli.transfer_commands import TRANSFER_COMMANDS
from gitreg.cli.trust_commands import TRUST_COMMANDS
from gitreg.cli.ui_commands import UI_COMMANDS
from gitreg.cli.watch_commands import WATCH_COMMANDS
from gitreg.errors import GitregError, NotARegistryError
from gitreg.services.ci import DISTRIBUTION


class _Group(click.Group):
    """Turns every GitregError into one line on stderr and its exit code (``--traceback`` re-raises)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GitregError as exc:
            if ctx.meta.get("gitreg.traceback"):
                raise
            click.echo(f"{click.style('error:', fg='red')} {exc}", err=True)
            sys.exit(int(exc.exit_code))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_sections(self, ctx, formatter)  # in sections: versions, stages, sharing, inspection, integrations


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "directory", metavar="DIR", type=click.Path(file_okay=False),
              help="Run as if gitreg was started in DIR.")
@click.option("--traceback", is_flag=True, help="Show the full traceback on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors: no progress, no warnings.")
@click.option("-v", "--verbose", is_flag=True, help="Print debug detail too, DVC's own log lines among it.")
@click.version_option(package_name=DISTRIBUTION, prog_name="gitreg")
@click.pass_context
def cli(ctx: click.Context, directory: str | None, traceback: bool, quiet: bool, verbose: bool) -> None:
    """gitreg: a Git-native model registry on DVC.

    Versions are annotated tags (NAME@v1.2.0), stages are branches, bytes live in DVC.

    \b
    Quick start:
      gitreg init --remote /mnt/dvc-store
      gitreg register churn model.joblib --metric accuracy=0.91
      gitreg list
      gitreg show churn@0.1.0

    NO_COLOR=1 turns colour off; output that is not a terminal never has any.
    """
    ctx.meta["gitreg.traceback"] = traceback
    if quiet and verbose:
        raise click.UsageError("give -q/--quiet or -v/--verbose, not both")
    if os.environ.get("NO_COLOR"):  # https://no-color.org: any non-empty value
        ctx.color = False
    from gitreg.cli import manners

    manners.setup(-1 if quiet else 1 if verbose else 0)
    _show_warnings_as_lines(quiet)
    if directory:  # like `git -C`: relative paths given to any command are then relative to DIR
        if not os.path.isdir(directory):
            raise NotARegistryError(f"{directory} is not a directory: give the path of a gitreg registry")
        os.chdir(directory)


for _command in (COMMANDS + STAGE_COMMANDS + LIFECYCLE_COMMANDS + ANNOTATE_COMMANDS + ALIAS_COMMANDS + QUERY_COMMANDS
                 + REMOTE_COMMANDS + TRANSFER_COMMANDS + INTEGRATION_COMMANDS + UI_COMMANDS
                 + TRUST_COMMANDS + SIGN_COMMANDS + AB_COMMANDS
                 + WATCH_COMMANDS + COMPLETION_COMMANDS):
    cli.add_command(_command)
install_completion(cli)  # model names, versions, stages and aliases complete (after every command is added)


def _show_warnings_as_lines(quiet: bool = False) -> None:
    """A warning the library gives (an environment difference, a deprecated version, a pickle) as one line
    on stderr, ``warning: ...``, not Python's file:line and source text; none with ``--quiet``."""
    import warnings

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        if not quiet:
            click.echo(f"{click.style('warning:', fg='yellow')} {message}", err=True)

    warnings.showwarning = one_line


# The cyclic collector rescans every live object each time enough new ones survive: a read of 100,000
# versions keeps some million small objects, and the default thresholds spent 2 of its 4 seconds
# collecting garbage that does not exist (data read from Git has no cycles). Collections 300x rarer cost
# nothing measurable and still bound what cycles a long transfer could leave (mypy does the same).
GC_THRESHOLDS = (200_000, 30, 30)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    cli(prog_name="gitreg")
