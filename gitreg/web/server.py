"""``gitreg ui``: the pages over HTTP, from a standard-library threading server (it starts in milliseconds).

Read-only: only GET and HEAD are answered. The registry is read again when its refs change (checked at
most every ``RECHECK`` seconds, one ``for-each-ref``); between changes every page is built from one
:class:`~gitreg.web.pages.State`.
"""

from __future__ import annotations

import errno
import hashlib
import mimetypes
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gitreg.errors import AddressInUseError, GitregError, InvalidInputError, NotFoundError
from gitreg.web import pages, render
from gitreg.web.links import ServerLinks

STATIC = Path(__file__).parent / "static"
RECHECK = 1.0  # seconds between two looks at the refs
FETCH_EVERY = 30.0  # seconds between two fetches of a remote registry's mirror (`gitreg ui --repo URL`)
LINKS = ServerLinks()


class Site:
    """What the server shows: one registry, read again whenever its refs change.

    A change of the refs is read in the background, by a Registry of its own, while pages keep coming
    from the state before it; the new state replaces it once read (about half a second at 10,000
    versions), so no visitor waits for a read of every tag.
    """

    def __init__(self, registry: Any):
        self.registry = registry
        self.lock = threading.Lock()  # one page at a time: a State's lazy reads are not shared
        self._state: pages.State | None = None
        self._checked = 0.0
        self._reading: threading.Thread | None = None

    def state(self) -> pages.State:
        now = time.monotonic()
        if self._state is None:
            self._state = _read(self.registry, self._fingerprint())
            self._checked = now
        elif now - self._checked > RECHECK and not self._reading_now():
            self._checked = now
            fingerprint = self._fingerprint()
            if fingerprint != self._state.fingerprint:
                self._reading = threading.Thread(target=self._refresh, args=(fingerprint,), daemon=True)
                self._reading.start()
        return self._state

    def _fingerprint(self) -> str:
        refs = self.registry.git.ref_values("refs/")
        return hashlib.sha1(repr(sorted(refs.items())).encode()).hexdigest()

    def _reading_now(self) -> bool:
        return self._reading is not None and self._reading.is_alive()

    def _refresh(self, fingerprint: str) -> None:
        try:
            fresh = _read(type(self.registry)(self.registry.root, remote_url=self.registry.remote_url), fingerprint)
        except Exception:  # noqa: BLE001 - the pages stay as they were; the next look tries again
            return
        with self.lock:
            self._state = fresh

    def settle(self, timeout: float | None = None) -> None:
        """Wait for a read of changed refs to finish (tests and benchmarks; pages never wait)."""
        with self.lock:
            self.state()
        if self._reading is not None:
            self._reading.join(timeout)

    def warm(self) -> None:
        """Read what most pages need and compile the templates before the first visitor comes."""
        try:
            with self.lock:
                self.state()
            render.warm()
        except Exception:  # noqa: BLE001 - the first page that needs it reports the problem
            pass

    def page(self, path: str, query: dict[str, str]) -> tuple[int, str]:
        """(HTTP status, HTML) of a page path; every error is a page saying what went wrong."""
        try:
            with self.lock:
                return HTTPStatus.OK, self._page(path, query)
        except NotFoundError as exc:
            return HTTPStatus.NOT_FOUND, self._error("Not found", str(exc))
        except InvalidInputError as exc:
            return HTTPStatus.BAD_REQUEST, self._error("Bad request", str(exc))
        except GitregError as exc:
            return HTTPStatus.INTERNAL_SERVER_ERROR, self._error("The registry could not be read", str(exc))
        except Exception as exc:  # a page that fails says so, and the server keeps serving the others
            return HTTPStatus.INTERNAL_SERVER_ERROR, self._error("This page failed", f"{type(exc).__name__}: {exc}")

    def _page(self, path: str, query: dict[str, str]) -> str:
        state, number = self.state(), _page_number(query)
        parts = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
        if not parts:
            return render.page("models.html", pages.models_page(state, number), LINKS)
        if parts == ["log"]:
            data = pages.log_page(state, query, number)
            kept = {key: value for key, value in data["filters"].items() if value}
            return render.page("log.html", {**data, "log_url": lambda n: LINKS.log(n, **kept)}, LINKS)
        if parts == ["diff"]:
            return render.page("diff.html", pages.diff_page(state, query.get("a", ""), query.get("b", "")), LINKS)
        if parts[0] == "model" and len(parts) == 2:
            return render.page("model.html", pages.model_page(state, parts[1], number), LINKS)
        if parts[0] == "model" and len(parts) == 4 and parts[2] == "v":
            return render.page("version.html", pages.version_page(state, parts[1], parts[3]), LINKS)
        raise NotFoundError(f"no page at {path}: start from the models page, /")

    def _error(self, title: str, message: str) -> str:
        return render.page("error.html", {"title": title, "message": message}, LINKS)


def _read(registry: Any, fingerprint: str) -> pages.State:
    """A State with what most pages need already read: the versions, the models, the audit log."""
    state = pages.State(registry, fingerprint)
    state.models, state.events, state.aliases  # noqa: B018 - cached on first use
    return state


def _page_number(query: dict[str, str]) -> int:
    text = query.get("page", "1")
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInputError(f"page must be a number (got {text!r})")
    return int(text)


class Handler(BaseHTTPRequestHandler):
    site: Site  # set on the subclass ``serve`` makes
    server_version = "gitreg-ui"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/static/"):
            return self._static(url.path.removeprefix("/static/"))
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        status, html = self.site.page(url.path, query)
        self._send(status, html.encode(), "text/html; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _static(self, name: str) -> None:
        try:  # a NUL byte or a name too long for the file system is a file that is not there
            file = (STATIC / unquote(name)).resolve()
            found = file.is_relative_to(STATIC.resolve()) and file.is_file()
        except (ValueError, OSError):
            found = False
        if not found:
            return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain; charset=utf-8")
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, file.read_bytes(), kind + ("; charset=utf-8" if kind.startswith(("text/", "application/javascript")) else ""),
                   cache="max-age=3600")

    def _send(self, status: int, body: bytes, kind: str, cache: str = "no-cache") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the library never prints
        pass


def serve(registry: Any, host: str = "127.0.0.1", port: int = 8123) -> ThreadingHTTPServer:
    """A bound server for ``registry`` (call ``serve_forever``); ``port`` 0 picks a free port."""
    handler = type("SiteHandler", (Handler,), {"site": Site(registry)})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(f"port {port} on {host} is in use: give another with --port N "
                                    "(or stop what listens there)") from None
        raise AddressInUseError(f"cannot listen on {host}:{port} ({exc.strerror}): give another --port or --host") from None
    server.daemon_threads = True
    threading.Thread(target=handler.site.warm, daemon=True, name="gitreg-ui-warm").start()
    if getattr(registry, "remote_url", None):
        threading.Thread(target=_follow, args=(registry.remote_url,), daemon=True, name="gitreg-ui-fetch").start()
    return server


def _follow(url: str) -> None:
    """Fetch a remote registry's mirror now and then: the refs then move and the pages follow them."""
    from gitreg.io import mirror

    while True:
        time.sleep(FETCH_EVERY)
        try:
            mirror.sync(url)
        except GitregError:  # offline for a while: the pages show the registry as last fetched
            continue
