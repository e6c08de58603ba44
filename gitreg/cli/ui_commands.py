"""``gitreg ui`` and ``gitreg report``: the registry as web pages, served or written out."""

from __future__ import annotations

from pathlib import Path

import click

from gitreg.cli import render
from gitreg.cli.commands import _registry, json_option, repo_option


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8123, show_default=True,
              help="The port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@repo_option
@click.pass_context
def ui(ctx, port: int, host: str) -> None:
    """Browse the registry in a web browser: read-only pages built from Git alone.

    Models (latest version, stages, aliases, labels, headline metrics); a model
    (versions with metrics as a table and trend charts, a timeline of which
    version was in which stage, its README); a version (card, annotations,
    lineage, environment, signature, deprecation); a diff of two versions; the
    audit log with filters. Pages follow the registry as its refs change; no
    network is used (every script ships with gitreg). Stop it with Ctrl-C.

    \b
    Examples:
      gitreg ui
      gitreg ui --port 9000
      gitreg ui --repo https://github.com/acme/models.git
    """
    from gitreg.web import server

    httpd = server.serve(_registry(ctx), host, port)
    click.echo(f"Serving the registry at http://{host}:{httpd.server_address[1]}/ (read-only; Ctrl-C stops)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


@click.command()
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="The folder to write (new, empty, or an earlier report, which is replaced).")
@repo_option
@json_option
@click.pass_context
def report(ctx, output: Path, as_json: bool) -> None:
    """Write the pages of `gitreg ui` as a static site, for a CI artifact or GitHub Pages.

    Links are relative, so the site opens from the folder itself (file://) or
    from any web server. The audit log is one page, filtered in the browser;
    each version has a diff with the one before it.

    \b
    Examples:
      gitreg report -o site/
      gitreg report -o site/ --repo https://github.com/acme/models.git
      python -m http.server -d site/ 8000
    """
    from gitreg.web import site

    written = site.write(_registry(ctx), output)
    if as_json:
        render.emit_json(written.to_dict())
    else:
        click.echo(f"Wrote {render.plural(written.pages, 'page')} ({render.plural(written.models, 'model')}, "
                   f"{render.plural(written.versions, 'version')}) to {written.output}; open "
                   f"{written.output / 'index.html'}")


UI_COMMANDS = [ui, report]
