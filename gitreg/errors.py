"""Every failure gitreg reports: a message that says what to do, and an exit code.

The exit codes live in one table, :class:`ExitCode`; exit code 2 is Click's usage error and never
used here. The README's table of exit codes is checked against this one by a test.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``gitreg`` exits with; each error class names its code."""

    OK = 0
    ERROR = 1  # a GitregError without a more specific class
    USAGE = 2  # Click: an unknown option, a missing argument
    NOT_A_REGISTRY = 3
    INVALID_INPUT = 4
    NOT_FOUND = 5
    CONFLICT = 6
    IDENTITY = 7
    CARD = 8
    ARTIFACT = 9
    GATE = 10
    GIT = 11
    STORAGE = 12
    INTEGRITY = 13
    PUSH_REJECTED = 14
    TRANSFER = 15
    STAGE_MOVED = 16
    UNSAFE_CONTENT = 17
    MISSING_PACKAGE = 18
    ADDRESS_IN_USE = 19
    BROKEN_LINK = 20


class GitregError(Exception):
    """Base class; the CLI prints ``str(error)`` and exits with ``exit_code``."""

    exit_code = ExitCode.ERROR


class NotARegistryError(GitregError):
    exit_code = ExitCode.NOT_A_REGISTRY


class InvalidInputError(GitregError):
    """A name, version, reference, metric or path that does not parse."""

    exit_code = ExitCode.INVALID_INPUT


class NotFoundError(GitregError):
    """An unknown model, version or stage."""

    exit_code = ExitCode.NOT_FOUND


class ConflictError(GitregError):
    """The registry already holds something that forbids the change (versions are immutable)."""

    exit_code = ExitCode.CONFLICT


class RemoteMovedError(ConflictError):
    """A push was rejected because someone else changed the remote first."""


class PushRejectedError(GitregError):
    """The remote refused a push for a reason of its own (e.g. the server-side hook)."""

    exit_code = ExitCode.PUSH_REJECTED


class IdentityError(GitregError):
    exit_code = ExitCode.IDENTITY


class SigningKeyError(IdentityError):
    """Signing was asked for (``--sign``, or ``signing:`` in ``.gitreg.yaml``) and Git has no key to sign with."""


class CardError(GitregError):
    """A metadata card that is missing, corrupt or disagrees with its tag."""

    exit_code = ExitCode.CARD


class ArtifactError(GitregError):
    """Artifact bytes that are missing, empty or do not match their pointer."""

    exit_code = ExitCode.ARTIFACT


class GateError(GitregError):
    exit_code = ExitCode.GATE


class GitError(GitregError):
    """Git itself failed in a way gitreg did not expect."""

    exit_code = ExitCode.GIT


class StorageError(GitregError):
    """DVC failed to store or fetch bytes."""

    exit_code = ExitCode.STORAGE


class IntegrityError(GitregError):
    """The registry breaks its invariants (``verify``) or a change would (``check-promotion``)."""

    exit_code = ExitCode.INTEGRITY


class TransferError(StorageError):
    """Artifact bytes did not (all) reach the DVC remote, or the remote cannot serve them: no ref moved."""

    exit_code = ExitCode.TRANSFER


class StageMovedError(ConflictError):
    """The stage changed under a rollback or retire planned against its earlier state."""

    exit_code = ExitCode.STAGE_MOVED


class UnsafeContentError(InvalidInputError):
    """Repository content (a path, hash, YAML document or expression) that is hostile or over a limit."""

    exit_code = ExitCode.UNSAFE_CONTENT


class UnsafeCardError(CardError, UnsafeContentError):
    """A card refused as hostile or over a limit: still a card error, so listings skip that one tag."""

    exit_code = ExitCode.UNSAFE_CONTENT


class UntrustedArtifactError(UnsafeContentError):
    """An artifact ``load`` will not run: a pickle the registry refuses, or skops types nobody trusted."""


class MissingPackageError(GitregError):
    """A library the command needs (an artifact format's loader, an integration's client) is not installed;
    the message names the package."""

    exit_code = ExitCode.MISSING_PACKAGE


class BrokenLinkError(GitregError):
    """``trace``: a link of the trust chain is broken (the card claims what Git does not hold), dirty, or
    unsigned where signing is required."""

    exit_code = ExitCode.BROKEN_LINK


class SignatureError(InvalidInputError):
    """Input that does not match a model's signature: missing or extra columns, wrong dtypes."""


class AddressInUseError(GitregError):
    """``gitreg ui`` cannot listen on the port it was given (another process holds it)."""

    exit_code = ExitCode.ADDRESS_IN_USE
