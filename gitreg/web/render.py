"""HTML from page data: Jinja2 templates with autoescaping, so repository content (a description, a note,
a README) is always text, never markup. The model's README is Markdown rendered with raw HTML off."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import jinja2

from gitreg.web.links import ServerLinks, StaticLinks

PAGE_DEFAULTS = {"generated": "", "charts": False, "section": ""}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("gitreg.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(value=value_text, short=lambda commit: (commit or "")[:8], markdown=markdown,
                       delta=delta_text, day=lambda time: (time or "")[:10], when=when_text)
    return env


def warm() -> None:
    """Compile every template and import the Markdown parser now, not on a visitor's first page."""
    env = environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    markdown("warm")


def page(template: str, data: dict[str, Any], links: ServerLinks | StaticLinks) -> str:
    return environment().get_template(template).render(**{**PAGE_DEFAULTS, **data, "links": links})


def value_text(value: Any) -> str:
    """A card value as text: numbers to 4 significant digits, NaN and infinities named, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(item) for item in value)
    return str(value)


def delta_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:+.4g}"


def when_text(time: str | None) -> str:
    """``2026-01-31T12:00:00+00:00`` as ``2026-01-31 12:00``."""
    return (time or "")[:16].replace("T", " ")


@lru_cache(maxsize=256)
def markdown(text: str | None) -> str:
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    if not text:
        return Markup("")
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    return Markup(parser.render(text))  # html off: raw tags are escaped; javascript: links are refused
