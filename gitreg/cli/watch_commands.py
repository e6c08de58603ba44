"""``watch``: print each new event of the shared registry, run a command and call a webhook for it."""

from __future__ import annotations

import json
import os

import click

from gitreg.cli.commands import _registry, repo_option
from gitreg.errors import InvalidInputError


@click.command()
@click.option("--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS",
              help="Seconds between two rounds (each round fetches origin).")
@click.option("--once", is_flag=True, help="One round: deliver what is new, then exit.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line for each event.")
@click.option("--exec", "command", metavar="CMD",
              help="Run CMD in a shell for each event, the event's JSON on stdin ($GITREG_EVENT_ID, "
                   "$GITREG_EVENT_ACTION set); a failing CMD is reported and the watch goes on.")
@click.option("--webhook", metavar="URL", help="POST each event's JSON to URL (http or https).")
@click.option("--secret-env", metavar="VAR",
              help="Sign webhook bodies with the secret in environment variable VAR "
                   "(header X-Gitreg-Signature: sha256=<hex HMAC-SHA256 of the body>).")
@click.option("--attempts", type=int, default=5, show_default=True,
              help="Webhook attempts per event, with exponential back-off (0.5 s, 1 s, 2 s, ...).")
@click.option("--state", metavar="PATH", type=click.Path(dir_okay=False),
              help="The state file of delivered events (default: under .git/gitreg/, or the cache with --repo).")
@click.option("--from-now", is_flag=True, help="With a new state file: skip the events that exist already.")
@repo_option
@click.pass_context
def watch(ctx, interval, once, as_json, command, webhook, secret_env, attempts, state, from_now) -> None:
    """Follow the shared registry and report each new event as it happens.

    Each round fetches origin (or --repo URL; the clone itself is never
    changed) and reports the events not yet reported, oldest first: register,
    promote, rollback, retire, deprecate, alias-set, alias-rm, annotate, A/B
    test start and conclusion. A state file remembers every event delivered,
    by identity rather than time, so a restart neither repeats nor misses one
    (also events a clone pushes late, with older times).

    A webhook POST carries X-Gitreg-Signature: sha256=<HMAC-SHA256 of the body
    with the secret, hex>, X-Gitreg-Event (the action) and X-Gitreg-Delivery
    (the event id). A delivery that still fails after --attempts is reported
    and tried again next round (later events wait, to keep the order);
    with --once the exit code is then 1.

    \b
    Examples:
      gitreg watch
      gitreg watch --once --json
      gitreg watch --repo https://github.com/acme/models.git --interval 60
      gitreg watch --exec 'jq -r .action >> events.txt'
      WEBHOOK_SECRET=s3cret gitreg watch --webhook https://hooks.example.com/gitreg --secret-env WEBHOOK_SECRET
    """
    if secret_env and not webhook:
        raise click.UsageError("--secret-env signs webhook bodies: give --webhook URL too")
    watcher = _registry(ctx).watcher(state=state, command=command, webhook=webhook, secret=_secret(secret_env),
                                     attempts=attempts, from_now=from_now)

    def show(event: dict) -> None:
        if as_json:
            click.echo(json.dumps(event, sort_keys=True, ensure_ascii=False))
        else:
            from gitreg.domain.watch import describe

            click.echo(describe(event))

    def problem(message: str) -> None:
        click.echo(f"error: {message}", err=True)

    try:
        if once:
            if watcher.round(show, problem).problems:
                ctx.exit(1)
            return
        watcher.run(interval, show, problem)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.state.close()


def _secret(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise InvalidInputError(f"--secret-env {variable}: the environment variable {variable} is not set or empty; "
                                f"export {variable}=<the webhook's secret>")
    return value.encode()


WATCH_COMMANDS = [watch]
