"""``--sign/--no-sign``, shared by every write command (its own module: the commands import it)."""

from __future__ import annotations

import click


def _remember_sign(ctx: click.Context, _param, value: bool | None) -> None:
    ctx.meta["gitreg.sign"] = value


# the value reaches the Registry that `_registry(ctx)` makes, as its sign_default
sign_option = click.option(
    "--sign/--no-sign", default=None, expose_value=False, callback=_remember_sign,
    help="Sign the tag or commit with Git's own signing (user.signingkey, gpg.format ssh or GPG); "
         "default: as .gitreg.yaml's signing: requires.")
