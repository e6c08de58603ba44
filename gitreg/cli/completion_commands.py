"""``completion``: the shell completion script, and what completes each argument.

Click's completion protocol (``_GITREG_COMPLETE=bash_complete gitreg ...``) completes commands and options
itself; :func:`install` gives the parameters that name models, versions, stages and aliases a
``shell_complete`` callback that reads the refs with one ``git for-each-ref`` (no DVC, no YAML).
It goes by parameter name, so a command added later with an argument called ``name``, ``ref`` or
``stage`` completes too.
"""

from __future__ import annotations

import os

import click
from click.shell_completion import CompletionItem

from gitreg.domain import completion as complete

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Completes commands, options, model names, NAME@VERSION, NAME@ALIAS,
    NAME#STAGE, versions, stages and aliases (read from the refs of the
    registry you are in, or of -C DIR).

    \b
    Examples:
      eval "$(gitreg completion bash)"                      # in ~/.bashrc
      eval "$(gitreg completion zsh)"                       # in ~/.zshrc
      gitreg completion fish > ~/.config/fish/completions/gitreg.fish
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    script = get_completion_class(shell)(root.command, {}, "gitreg", "_GITREG_COMPLETE").source()
    click.echo(script, nl=False)


def _catalog(ctx: click.Context) -> complete.Catalog:
    from gitreg.errors import GitregError
    from gitreg.io.git import Git

    directory = ctx.find_root().params.get("directory") or "."
    try:
        found = Git(os.path.abspath(directory)).ref_values("refs/tags/", "refs/gitreg/aliases/",
                                                           *complete.STAGE_BRANCHES)
    except (GitregError, OSError):
        found = {}
    return complete.catalog(found)


def _items(values: list[str]) -> list[CompletionItem]:
    return [CompletionItem(value) for value in values]


def _names(ctx, param, incomplete):
    return _items(complete.names(_catalog(ctx), incomplete))


def _references(ctx, param, incomplete):
    return _items(complete.references(_catalog(ctx), incomplete))


def _stages(ctx, param, incomplete):
    return _items(complete.stages(_catalog(ctx), incomplete))


def _versions(ctx, param, incomplete):
    return _items(complete.versions(_catalog(ctx), ctx.params.get("name"), incomplete))


def _aliases(ctx, param, incomplete):
    return _items(complete.aliases(_catalog(ctx), ctx.params.get("name"), incomplete))


def _positional_stage_change(ctx, param, incomplete):
    """``promote NAME VERSION STAGE``: a model, then its versions, then a stage."""
    given = list(ctx.params.get(param.name) or ())
    found = _catalog(ctx)
    if ctx.params.get("as_train") or ctx.params.get("match"):
        return _items(complete.references(found, incomplete) + complete.stages(found, incomplete))
    if not given:
        return _items(complete.names(found, incomplete))
    if len(given) == 1:
        return _items(complete.versions(found, given[0], incomplete))
    return _items(complete.stages(found, incomplete))


ARGUMENTS = {"name": _names, "ref": _references, "references": _references, "stage": _stages,
             "alias_name": _aliases, "args": _positional_stage_change, "version": _versions}
OPTIONS = {"stage": _stages, "train_stage": _stages, "base": _references, "to": _versions}


def install(group: click.Group) -> None:
    """Give every parameter that names registry things its completion (unless it has one already)."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            install(command)
            continue
        for param in command.params:
            table = ARGUMENTS if isinstance(param, click.Argument) else OPTIONS
            callback = table.get(param.name or "")
            if callback and getattr(param, "_custom_shell_complete", None) is None and _plain(param):
                param._custom_shell_complete = callback


def _plain(param: click.Parameter) -> bool:
    """A text parameter (a choice or a path completes as its type says), and not a new version number."""
    return isinstance(param.type, click.types.StringParamType) and (param.metavar or "") != "X.Y.Z"


COMPLETION_COMMANDS = [completion]
