"""Signatures as data: what Git's own verification says of a tag or commit, the signing policy of
``.gitreg.yaml`` and the allowed signers committed in the registry (Git's ``allowed_signers`` format)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

ALLOWED_SIGNERS_FILE = ".gitreg/allowed_signers"
GPG_KEYS_FILE = ".gitreg/gpg-keys.asc"
GOOD, UNSIGNED, BAD, UNKNOWN_KEY = "good", "unsigned", "bad", "unknown-key"
STATES = (GOOD, UNSIGNED, BAD, UNKNOWN_KEY)
SIGNATURE_MARKS = (b"-----BEGIN SSH SIGNATURE-----", b"-----BEGIN PGP SIGNATURE-----",
                   b"-----BEGIN SIGNED MESSAGE-----")
POLICY_KEYS = ("required_for", "versions", "since")
# Git's %G? letters: G good, U good but the key's validity unknown (SSH: no principal matched), E cannot
# be checked (no such key), N no signature, B bad, X/Y expired signature/key, R revoked key
_STATUS = {"G": GOOD, "U": UNKNOWN_KEY, "E": UNKNOWN_KEY, "N": UNSIGNED, "B": BAD, "X": BAD, "Y": BAD, "R": BAD}
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
              "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss")
_OPTION = re.compile(r'^(cert-authority|namespaces="[A-Za-z0-9_.,*-]+"|valid-(after|before)="?[0-9TZ]{8,15}"?)$')
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_PRINCIPAL = re.compile(r"^[^\s\"',]+$")


@dataclass(frozen=True)
class Signature:
    """What Git's verification says of one tag or commit. ``state``: good (a valid signature by a key
    the registry allows), unsigned, bad (it does not match the content: changed since it was signed, or
    an expired or revoked key), unknown-key (valid, but by a key the registry does not list)."""

    state: str
    signer: str | None = None  # the SSH principal (allowed_signers) or the GPG user id
    key: str | None = None  # the key's fingerprint (SHA256:... for SSH, hex for GPG)
    format: str | None = None  # ssh | openpgp | x509 (None: unsigned)

    @property
    def good(self) -> bool:
        return self.state == GOOD

    def describe(self) -> str:
        if self.state == GOOD:
            return f"signed by {self.signer or self.key} ({self.format})"
        if self.state == UNSIGNED:
            return "unsigned"
        key = f" {self.key}" if self.key else ""
        if self.state == UNKNOWN_KEY:
            return f"signed with the {self.format or ''} key{key}, which .gitreg/allowed_signers does not list".replace("  ", " ")
        return f"its {self.format or ''} signature{key} does not verify (changed since it was signed?)".replace("  ", " ")

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "signer": self.signer, "key": self.key, "format": self.format}


UNSIGNED_SIGNATURE = Signature(UNSIGNED)


def signature_format(content: bytes) -> str | None:
    """``ssh``, ``openpgp`` or ``x509`` by the signature block in a tag object; None: unsigned."""
    if SIGNATURE_MARKS[0] in content:
        return "ssh"
    if SIGNATURE_MARKS[1] in content:
        return "openpgp"
    if SIGNATURE_MARKS[2] in content:
        return "x509"
    return None


def from_status(letter: str, signer: str, key: str) -> Signature:
    """A commit's signature from ``git log``'s ``%G?``, ``%GS`` and ``%GF``/``%GK``."""
    state = _STATUS.get(letter, BAD)
    if state == UNSIGNED:
        return UNSIGNED_SIGNATURE
    fmt = "ssh" if key.startswith("SHA256:") else "openpgp"
    return Signature(state, signer or None, key or None, fmt)


_SSH_GOOD = re.compile(r'Good "git" signature (?:for (?P<who>.+?) )?with \S+ key (?P<key>\S+)')
_GPG = re.compile(r"^\[GNUPG:\] (?P<word>GOODSIG|BADSIG|ERRSIG|EXPSIG|EXPKEYSIG|REVKEYSIG|VALIDSIG|NO_PUBKEY)"
                  r" (?P<rest>.*)$", re.MULTILINE)


def from_raw(fmt: str | None, exit_code: int, output: str) -> Signature:
    """A tag's signature from ``git verify-tag --raw`` (exit code and what ssh-keygen or gpg said)."""
    if fmt is None or "no signature found" in output:
        return UNSIGNED_SIGNATURE
    if fmt == "ssh":
        good = _SSH_GOOD.search(output)
        if not good:
            return Signature(BAD, None, None, fmt)
        who, key = good.group("who"), good.group("key")
        return Signature(GOOD if exit_code == 0 and who else UNKNOWN_KEY, who, key, fmt)
    words = {m.group("word"): m.group("rest") for m in _GPG.finditer(output)}
    if "NO_PUBKEY" in words or "ERRSIG" in words:
        key = (words.get("NO_PUBKEY") or words.get("ERRSIG") or "").split(" ")[0] or None
        return Signature(UNKNOWN_KEY, None, key, fmt)
    if "GOODSIG" in words and exit_code == 0:
        key_id, _, uid = words["GOODSIG"].partition(" ")
        fingerprint = (words.get("VALIDSIG") or key_id).split(" ")[0]
        return Signature(GOOD, uid or None, fingerprint, fmt)
    return Signature(BAD, None, None, fmt)


def allowed_signers_problems(text: str) -> list[str]:
    """Lines of ``.gitreg/allowed_signers`` that are not Git's format (``PRINCIPALS [OPTIONS] KEYTYPE
    BASE64KEY [COMMENT]``): content is data, and a line ssh-keygen would skip must not pass silently."""
    problems = []
    for number, line in enumerate(signer_lines(text), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split()
        where = f"{ALLOWED_SIGNERS_FILE} line {number}"
        if _CONTROL.search(stripped):  # ssh-keygen and Python split such a line differently: neither guesses
            problems.append(f"{where}: holds a control character (NUL, form feed, ...): keep one signer per line "
                            "of printable text")
            continue
        if len(words) < 3:
            problems.append(f"{where}: expected 'PRINCIPAL KEYTYPE KEY', e.g. 'ada@example.com ssh-ed25519 AAAA...'")
            continue
        if not all(_PRINCIPAL.match(p) for p in words[0].split(",")):
            problems.append(f"{where}: {words[0]!r} is not a principal (an email, or several separated by commas)")
            continue
        at = next((i for i, word in enumerate(words[1:], 1) if word in _KEY_TYPES), None)
        if at is None or at + 1 >= len(words):
            problems.append(f"{where}: no SSH public key (ssh-ed25519 AAAA..., as in your KEY.pub)")
            continue
        options = ",".join(words[1:at]).split(",") if at > 1 else []
        bad = [option for option in options if option and not _OPTION.match(option)]
        if bad:
            problems.append(f"{where}: the option {bad[0]!r} is not one gitreg accepts "
                            '(namespaces="git", valid-after=, valid-before=, cert-authority)')
        elif not _base64(words[at + 1]):
            problems.append(f"{where}: the key is not base64")
    return problems


def signer_lines(text: str) -> list[str]:
    """The lines of an allowed signers file as ssh-keygen reads them: split at newlines only."""
    return [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")] if text else []


def _base64(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) > 16
    except ValueError:
        return False


@dataclass(frozen=True)
class SigningPolicy:
    """``signing:`` in ``.gitreg.yaml``: which events must be signed by an allowed signer."""

    required_for: tuple[str, ...] = ()  # stages whose changes must be signed
    versions: bool = False  # version tags (and deprecation tags) must be signed
    since: str | None = None  # ISO date: ``verify`` does not require signatures on older events

    def requires_stage(self, stage: str) -> bool:
        return stage in self.required_for

    def required_at(self, timestamp: int) -> bool:
        """Whether an event made at ``timestamp`` (Unix seconds) falls under the policy (``since``)."""
        if not self.since:
            return True
        start = datetime.fromisoformat(self.since).replace(tzinfo=timezone.utc).timestamp()
        return timestamp >= start


def parse_policy(value: Any, stages: tuple[str, ...]) -> SigningPolicy:
    """``signing: {required_for: [production], versions: true, since: 2026-12-01}``; ValueError says why not."""
    if not isinstance(value, dict):
        raise ValueError("'signing' must be a mapping like {required_for: [production], versions: true}")
    unknown = [key for key in value if key not in POLICY_KEYS]
    if unknown:
        raise ValueError(f"signing may only set {', '.join(POLICY_KEYS)} (found the unknown key {unknown[0]!r})")
    required = value.get("required_for") or []
    required = [required] if isinstance(required, str) else required
    if not isinstance(required, list) or not all(isinstance(s, str) for s in required):
        raise ValueError("signing.required_for must list stages, e.g. [production]")
    missing = [s for s in required if s not in stages]
    if missing:
        raise ValueError(f"signing.required_for names the unknown stage {missing[0]!r}")
    versions = value.get("versions", False)
    if not isinstance(versions, bool):
        raise ValueError("signing.versions must be true or false")
    since = value.get("since")
    if since is not None:
        since = str(since)
        try:
            date.fromisoformat(since) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", since) else date.fromisoformat("x")
        except ValueError:
            raise ValueError(f"signing.since must be a date like 2026-12-01 (found {since!r})") from None
    return SigningPolicy(tuple(required), versions, since)
