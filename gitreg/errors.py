"""Every failure gitreg reports: a message that says what to do, and an exit code.

Exit code 2 is Click's usage error and never used here.
"""


class GitregError(Exception):
    """Base class; the CLI prints ``str(error)`` and exits with ``exit_code``."""

    exit_code = 1


class NotARegistryError(GitregError):
    exit_code = 3


class InvalidInputError(GitregError):
    """A name, version, reference, metric or path that does not parse."""

    exit_code = 4


class NotFoundError(GitregError):
    """An unknown model, version or stage."""

    exit_code = 5


class ConflictError(GitregError):
    """The registry already holds something that forbids the change (versions are immutable)."""

    exit_code = 6


class RemoteMovedError(ConflictError):
    """A push was rejected because someone else changed the remote first."""


class PushRejectedError(GitregError):
    """The remote refused a push for a reason of its own (e.g. the server-side hook)."""

    exit_code = 14


class IdentityError(GitregError):
    exit_code = 7


class CardError(GitregError):
    """A metadata card that is missing, corrupt or disagrees with its tag."""

    exit_code = 8


class ArtifactError(GitregError):
    """Artifact bytes that are missing, empty or do not match their pointer."""

    exit_code = 9


class GateError(GitregError):
    exit_code = 10


class GitError(GitregError):
    """Git itself failed in a way gitreg did not expect."""

    exit_code = 11


class StorageError(GitregError):
    """DVC failed to store or fetch bytes."""

    exit_code = 12


class IntegrityError(GitregError):
    """The registry breaks its invariants (``verify``) or a change would (``check-promotion``)."""

    exit_code = 13


class TransferError(StorageError):
    """Artifact bytes did not (all) reach the DVC remote, or the remote cannot serve them: no ref moved."""

    exit_code = 15


class StageMovedError(ConflictError):
    """The stage changed under a rollback or retire planned against its earlier state."""

    exit_code = 16


class UnsafeContentError(InvalidInputError):
    """Repository content (a path, hash, YAML document or expression) that is hostile or over a limit."""

    exit_code = 17


class UnsafeCardError(CardError, UnsafeContentError):
    """A card refused as hostile or over a limit: still a card error, so listings skip that one tag."""

    exit_code = 17
