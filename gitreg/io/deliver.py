"""Handing an event to the outside world: a shell command's stdin, an HTTP POST. Each returns what went
wrong as one line (None when it went right) and never raises: a failure is reported, the watch goes on."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request

EXEC_TIMEOUT = 300  # seconds a --exec command may take for one event
HTTP_TIMEOUT = 10


def run_command(command: str, payload: bytes, env: dict[str, str], timeout: float = EXEC_TIMEOUT) -> str | None:
    """Run ``command`` in the shell with ``payload`` on stdin (its output goes where ours goes)."""
    try:
        proc = subprocess.run(command, shell=True, input=payload, env={**os.environ, **env}, timeout=timeout,
                              stdout=None, stderr=None, check=False)
    except subprocess.TimeoutExpired:
        return f"`{command}` did not finish within {timeout:.0f} s and was stopped"
    except OSError as exc:
        return f"`{command}` could not be run: {exc}"
    if proc.returncode != 0:
        return f"`{command}` exited {proc.returncode}"
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers where it was configured: a redirect (which would carry the signed event to another
    address, or to file:// and ftp:// through urllib's other handlers) is reported as the answer it is."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(url: str, payload: bytes, headers: dict[str, str], timeout: float = HTTP_TIMEOUT) -> str | None:
    """POST ``payload`` as JSON; a 2xx answer is success, anything else one line saying what happened."""
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "gitreg-watch",
                                              **headers})
    try:
        with _OPENER.open(request, timeout=timeout) as answer:  # http(s) only: checked before
            answer.read(1 << 16)
            return None if 200 <= answer.status < 300 else f"{url} answered {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"cannot reach {url}: {reason}"
