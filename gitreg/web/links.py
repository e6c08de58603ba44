"""Where each page lives: the server's paths (``/model/churn``) or a static site's relative files.

The templates ask a ``Links`` for every URL, so the same templates serve ``gitreg ui`` and ``gitreg report``.
Model names and versions are restricted by the tag grammar (letters, digits, ``. _ - +``), so they are
safe in paths: the server's URLs quote them anyway; a static site's files carry them as they are (a
quoted ``+`` in a file name would not match the link a browser decodes).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode


def _q(text: str) -> str:
    return quote(text, safe="")


class ServerLinks:
    static_site = False

    def home(self, page: int = 1) -> str:
        return "/" if page == 1 else f"/?page={page}"

    def model(self, name: str, page: int = 1) -> str:
        return f"/model/{_q(name)}" + ("" if page == 1 else f"?page={page}")

    def version(self, name: str, version: str) -> str:
        return f"/model/{_q(name)}/v/{_q(version)}"

    def diff(self, name: str, a: str, b: str) -> str:
        return "/diff?" + urlencode({"a": f"{name}@{a}", "b": f"{name}@{b}"})

    def log(self, page: int = 1, **filters: str) -> str:
        query = {key: value for key, value in filters.items() if value}
        if page != 1:
            query["page"] = str(page)
        return "/log" + (f"?{urlencode(query)}" if query else "")

    def asset(self, name: str) -> str:
        return f"/static/{name}"


class StaticLinks:
    """Relative links from a file ``depth`` folders below the site's root (works from file:// and Pages)."""

    static_site = True

    def __init__(self, depth: int = 0):
        self.up = "../" * depth

    @staticmethod
    def home_file(page: int = 1) -> str:
        return "index.html" if page == 1 else f"index-{page}.html"

    @staticmethod
    def model_file(name: str, page: int = 1) -> str:
        return f"model/{name}/" + ("index.html" if page == 1 else f"page-{page}.html")

    @staticmethod
    def version_file(name: str, version: str) -> str:
        return f"model/{name}/v/{version}.html"

    @staticmethod
    def diff_file(name: str, a: str, b: str) -> str:
        return f"model/{name}/diff/{a}..{b}.html"

    @staticmethod
    def log_file(page: int = 1) -> str:
        return "log.html" if page == 1 else f"log-{page}.html"

    def home(self, page: int = 1) -> str:
        return self.up + self.home_file(page)

    def model(self, name: str, page: int = 1) -> str:
        return self.up + self.model_file(name, page)

    def version(self, name: str, version: str) -> str:
        return self.up + self.version_file(name, version)

    def diff(self, name: str, a: str, b: str) -> str:
        return self.up + self.diff_file(name, a, b)

    def log(self, page: int = 1, **filters: str) -> str:
        return self.up + self.log_file(page)  # a static log is filtered in the page itself

    def asset(self, name: str) -> str:
        return f"{self.up}static/{name}"
