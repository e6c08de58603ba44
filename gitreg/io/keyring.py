"""A private GPG keyring holding only the keys a registry commits (``.gitreg/gpg-keys.asc``), so that
Git's verification of GPG signatures trusts those keys and nothing from the user's own keyring."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gnupg_home(keys: bytes) -> Iterator[str | None]:
    """A temporary ``GNUPGHOME`` with ``keys`` imported and trusted; None when there are no keys or no gpg."""
    if not keys.strip() or not shutil.which("gpg"):
        yield None
        return
    home = tempfile.mkdtemp(prefix="gr-gpg-")  # short: gpg-agent's socket path has a length limit
    env = {**os.environ, "GNUPGHOME": home}
    try:
        subprocess.run(["gpg", "--batch", "--quiet", "--import"], input=keys, env=env, capture_output=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env,
                                 capture_output=True, text=True).stdout.splitlines()
        primary = [listing[i + 1].split(":")[9] for i, line in enumerate(listing[:-1])
                   if line.startswith("pub:") and listing[i + 1].startswith("fpr:")]
        if primary:  # a key the registry commits is one it trusts: that is what committing it says
            subprocess.run(["gpg", "--batch", "--import-ownertrust"], env=env, capture_output=True,
                           input="".join(f"{fpr}:6:\n" for fpr in primary).encode())
        yield home
    finally:
        if shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
