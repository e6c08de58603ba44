"""Who signed what: Git's own signature verification against the signers committed in the registry.

The one function the rest uses is :func:`check` (``{oid: Signature}`` for tags and commits). Trust comes
from the main branch: ``.gitreg/allowed_signers`` (Git's SSH ``allowed_signers`` format, handed to Git as
``gpg.ssh.allowedSignersFile``) and ``.gitreg/gpg-keys.asc`` (armored public GPG keys, imported into a
temporary keyring). Nothing gitreg-specific is needed to check a signature: ``git verify-tag`` and
``git verify-commit`` with that file say the same.

A stage event is judged by its first-parent commit or, for a merge whose trailers are on its second
parent (a forge merging a promotion pull request), by that promotion commit when it installs the same
``models/<name>/`` subtree: either signature vouches for the event (:func:`event_candidates`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from gitreg.domain import refs, signing
from gitreg.domain.config import Config
from gitreg.domain.experiment import EXPERIMENTS_DIR
from gitreg.domain.signing import BAD, GOOD, UNKNOWN_KEY, UNSIGNED_SIGNATURE, Signature
from gitreg.domain.trailers import parse_all
from gitreg.errors import SigningKeyError
from gitreg.io import keyring
from gitreg.io.git import CatFile, CommitRecord, Git
from gitreg.services.config_source import main_rev

TAG_WORKERS = 4  # verify-tag processes at once (each spends most of its time in ssh-keygen or gpg)
_RANK = {GOOD: 0, BAD: 1, UNKNOWN_KEY: 2, signing.UNSIGNED: 3}


@dataclass(frozen=True)
class Trust:
    """The signers a registry allows, as committed on its main branch."""

    allowed_signers: str = ""
    gpg_keys: bytes = b""

    @classmethod
    def at(cls, git: Git, rev: str | None = None) -> Trust:
        """What ``rev`` (default: the main branch) holds in ``.gitreg/allowed_signers`` and ``.gitreg/gpg-keys.asc``."""
        rev = rev or main_rev(git)
        if not rev:
            return cls()
        blobs = git.read_blobs([f"{rev}:{signing.ALLOWED_SIGNERS_FILE}", f"{rev}:{signing.GPG_KEYS_FILE}"])
        signers = blobs[f"{rev}:{signing.ALLOWED_SIGNERS_FILE}"] or b""
        return cls(signers.decode(errors="replace"), blobs[f"{rev}:{signing.GPG_KEYS_FILE}"] or b"")


def check(git: Git, oids: Iterable[str], trust: Trust | None = None) -> dict[str, Signature]:
    """The signature of each tag object or commit in ``oids``: good (by a key ``trust`` allows; default:
    the main branch's), unsigned, bad (the content changed since it was signed) or unknown-key. Commits
    are verified in one ``git log``; signed tags by one ``git verify-tag`` each (a few at once); unsigned
    tags cost nothing beyond one ``cat-file --batch``. An oid that is neither is unsigned."""
    oids = list(dict.fromkeys(oids))
    if not oids:
        return {}
    trust = trust if trust is not None else Trust.at(git)
    kinds = _objects(git, oids)
    commits = [oid for oid in oids if kinds[oid][0] == "commit"]
    tags = {oid: signing.signature_format(kinds[oid][1]) for oid in oids if kinds[oid][0] == "tag"}
    found = {oid: UNSIGNED_SIGNATURE for oid in oids}
    with _verifying(trust) as (settings, env):
        for oid, (letter, signer, key) in git.commit_signatures(commits, settings, env).items():
            found[oid] = signing.from_status(letter, signer, key)
        signed = [oid for oid, fmt in tags.items() if fmt]
        with ThreadPoolExecutor(max_workers=TAG_WORKERS) as pool:
            for oid, (code, output) in zip(signed, pool.map(lambda o: git.verify_tag_raw(o, settings, env), signed)):
                found[oid] = signing.from_raw(tags[oid], code, output)
    return found


def _objects(git: Git, oids: list[str]) -> dict[str, tuple[str, bytes]]:
    with git.cat_file() as cat:
        cat.prefetch(oids)
        return {oid: ((found[1], found[2]) if (found := cat.get(oid)) else ("missing", b"")) for oid in oids}


@contextmanager
def _verifying(trust: Trust) -> Iterator[tuple[dict[str, str], dict[str, str] | None]]:
    """Git settings (and environment) that make it verify against ``trust`` and nothing else: the allowed
    signers in a private file, the GPG keys in a private keyring (the user's own keyring is not asked)."""
    with tempfile.TemporaryDirectory(prefix="gitreg-trust-") as scratch:
        signers = os.path.join(scratch, "allowed_signers")
        with open(signers, "w") as handle:
            handle.write(_usable_lines(trust.allowed_signers))
        with keyring.gnupg_home(trust.gpg_keys) as home:
            env = {"GNUPGHOME": home} if home else {"GNUPGHOME": scratch}
            yield {"gpg.ssh.allowedSignersFile": signers}, env


def _usable_lines(text: str) -> str:
    """The allowed signers minus lines that are not the format (``verify`` names those)."""
    bad = {problem.split(" line ", 1)[1].split(":", 1)[0] for problem in signing.allowed_signers_problems(text)}
    return "".join(f"{line}\n" for number, line in enumerate(signing.signer_lines(text), 1)
                   if str(number) not in bad and line.strip() and not line.strip().startswith("#"))


def best(signatures: dict[str, Signature], candidates: Iterable[str]) -> Signature:
    """The signature that counts for an event several commits may vouch for: a good one if any, else the
    most telling (bad, then unknown-key, then unsigned)."""
    found = [signatures.get(oid, UNSIGNED_SIGNATURE) for oid in candidates]
    return min(found, key=lambda s: _RANK[s.state]) if found else UNSIGNED_SIGNATURE


def event_candidates(cat: CatFile, record: CommitRecord, model: str) -> tuple[str, ...]:
    """The commits whose signature vouches for ``model``'s change in the first-parent commit ``record``:
    the commit itself and, for a merge whose own message has no trailers for ``model`` (a forge's), its
    second parent when that carries them and installs the same ``models/<model>/`` subtree."""
    if len(record.parents) < 2 or any(change.model == model for change in parse_all(record.message)):
        return (record.oid,)
    second = record.parents[1]
    found = cat.get(second)
    if not found or found[1] != "commit":
        return (record.oid,)
    message = found[2].decode(errors="replace").partition("\n\n")[2]
    if not any(change.model == model for change in parse_all(message)):
        return (record.oid,)
    here, there = (cat.get(f"{oid}:{refs.model_dir(model)}") for oid in (record.oid, second))
    if (here[0] if here else None) != (there[0] if there else None):
        return (record.oid,)
    return record.oid, second


# ------------------------------------------------------------------------------------------ reports
@dataclass(frozen=True)
class SignedEvent:
    kind: str  # version | deprecation | stage | alias
    subject: str  # "churn@v1.2.0", "production: churn (commit 1a2b3c4d)", "churn@champion (commit ...)"
    oid: str  # the tag or commit judged (for a forge merge, the one whose signature counts)
    signature: Signature
    required: bool  # the policy asks for a good signature here

    @property
    def problem(self) -> str | None:
        if self.signature.state == BAD:
            return f"{self.subject}: {self.signature.describe()}"
        if self.required and not self.signature.good:
            return f"{self.subject}: {self.signature.describe()}, and .gitreg.yaml's signing: requires a signature here"
        return None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "subject": self.subject, "object": self.oid, "required": self.required,
                "signature": self.signature.to_dict(), "problem": self.problem}


@dataclass(frozen=True)
class SignatureReport:
    events: tuple[SignedEvent, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)  # the allowed signers file itself

    @property
    def all_problems(self) -> list[str]:
        return [*self.problems, *(event.problem for event in self.events if event.problem)]

    def counts(self) -> dict[str, int]:
        found = {state: 0 for state in signing.STATES}
        for event in self.events:
            found[event.signature.state] += 1
        return found

    def to_dict(self) -> dict:
        return {"counts": self.counts(), "problems": self.all_problems, "events": [e.to_dict() for e in self.events]}


def report(git: Git, config: Config, versions, marks, stage_tips: dict[str, str | None]) -> SignatureReport:
    """Every version tag, deprecation tag, stage event (every first-parent commit of a stage branch that
    changes ``models/<name>/``) and alias change, with its signature and whether the policy requires one."""
    from gitreg.services import history

    policy = config.signing or signing.SigningPolicy()
    trust = Trust.at(git)
    tags = [("version", v.tag, v.tag_oid or git.ref_oid(f"{refs.TAGS_PREFIX}{v.tag}")) for v in versions]
    tags += [("deprecation", mark.name, mark.tag_oid) for mark in marks]
    stage_events = []
    with git.cat_file() as cat:
        for stage in config.stages:
            tip = stage_tips.get(stage.name)
            if not tip:
                continue
            changes = [(model, step.record) for step in history.steps(git, cat, tip)
                       for model in step.changed_models()]
            seen = {(record.oid, model) for model, record in changes}
            changes += [(model, record) for model, record in _ab_record_changes(git, cat, tip)
                        if (record.oid, model) not in seen]
            for model, record in changes:
                candidates = event_candidates(cat, record, model)
                required = policy.requires_stage(stage.name) and policy.required_at(record.timestamp)
                stage_events.append((f"{stage.name}: {model} (commit {record.oid[:8]})", candidates, required))
    aliases = git.ref_histories(sorted(git.ref_values("refs/gitreg/aliases/")))
    times = _tagger_times(git, [oid for _, _, oid in tags if oid])
    signatures = check(git, [oid for _, _, oid in tags if oid] + [oid for _, c, _ in stage_events for oid in c]
                       + [commit.oid for commit in aliases], trust)
    events = [SignedEvent(kind, name, oid, signatures.get(oid, UNSIGNED_SIGNATURE),
                          policy.versions and policy.required_at(times.get(oid, 0)))
              for kind, name, oid in tags if oid]
    events += [SignedEvent("stage", subject, next((c for c in candidates if signatures[c].good), candidates[0]),
                           best(signatures, candidates), required) for subject, candidates, required in stage_events]
    events += [SignedEvent("alias", f"{_alias_name(commit.ref)} (commit {commit.oid[:8]})", commit.oid,
                           signatures[commit.oid], False) for commit in aliases]
    problems = tuple(signing.allowed_signers_problems(trust.allowed_signers))
    if (policy.required_for or policy.versions) and not trust.allowed_signers.strip() and not trust.gpg_keys:
        problems += (f".gitreg.yaml requires signatures, but the main branch has no {signing.ALLOWED_SIGNERS_FILE} "
                     f"(or {signing.GPG_KEYS_FILE}): commit the keys of the people who may sign",)
    return SignatureReport(tuple(events), problems)


def _alias_name(ref: str) -> str:
    name, _, alias = ref.removeprefix("refs/gitreg/aliases/").partition("/")
    return f"{name}@{alias}"


def _tagger_times(git: Git, oids: list[str]) -> dict[str, int]:
    times = {}
    for oid, (_, content) in _objects(git, oids).items():
        for line in content.split(b"\n\n", 1)[0].split(b"\n"):
            if line.startswith(b"tagger "):
                stamp = line.rsplit(b" ", 2)
                times[oid] = int(stamp[-2]) if len(stamp) == 3 and stamp[-2].isdigit() else 0
    return times


# ------------------------------------------------------------------------------------------ writers
def wants_signature(config: Config, sign: bool | None, stages: Iterable[str] = (), versions: bool = False) -> bool:
    """Whether a write signs: as asked (``--sign``/``--no-sign``), else as ``signing:`` requires for the
    stages it changes (``required_for``) or for the version records it makes (``versions``)."""
    if sign is not None:
        return sign
    policy = config.signing
    return bool(policy) and (any(policy.requires_stage(s) for s in stages) or (versions and policy.versions))


def require_key(git: Git) -> None:
    """Refuse, before any change, a signed write that Git could not sign."""
    problem = git.signing_problem()
    if problem:
        raise SigningKeyError(f"cannot sign: {problem}")


# ------------------------------------------------------------------------------------------ the hook
def hook_problems(git: Git, config: Config, updates, zero: str) -> list[str]:
    """With ``signing:`` on the main branch (before the push): refuse new version and deprecation tags
    that are not signed by an allowed signer (``versions: true``), and stage changes to the stages under
    ``required_for`` that are not (judged per event, as :func:`report` does; ``since`` does not apply:
    every push is judged)."""
    policy = config.signing
    if policy is None or not (policy.versions or policy.required_for):
        return []
    stages = {stage.ref: stage for stage in config.stages if policy.requires_stage(stage.name)}
    tags, events = [], []
    for update in updates:
        tag = update.ref.removeprefix(refs.TAGS_PREFIX)
        if (policy.versions and update.ref.startswith(refs.TAGS_PREFIX) and update.old == zero and update.new != zero
                and refs.parse_version_tag(tag.removesuffix("!"))):
            tags.append((tag, update.new))
    with git.cat_file() as cat:
        for update in updates:
            if update.ref in stages and update.new != zero:
                rev_range = f"{update.old}..{update.new}" if update.old != zero else update.new
                events += _stage_events(git, cat, stages[update.ref], rev_range)
    if not tags and not events:
        return []
    signatures = check(git, [oid for _, oid in tags] + [oid for *_, c in events for oid in c], Trust.at(git))
    problems = [f"{tag}: {signatures[oid].describe()}; .gitreg.yaml requires signed versions: {FIX}"
                for tag, oid in tags if not signatures[oid].good]
    return problems + _unsigned(events, signatures)


FIX = (f"sign it (`--sign`, with `git config user.signingkey` and `gpg.format ssh`) with a key listed in "
       f"{signing.ALLOWED_SIGNERS_FILE} on the main branch")


def _stage_events(git: Git, cat: CatFile, stage, rev_range: str) -> list[tuple]:
    from gitreg.services import history

    found = [(stage, model, step.oid, event_candidates(cat, step.record, model))
             for step in history.steps(git, cat, rev_range) for model in step.changed_models()]
    seen = {(oid, model) for _, model, oid, _ in found}
    return found + [(stage, model, record.oid, event_candidates(cat, record, model))
                    for model, record in _ab_record_changes(git, cat, rev_range) if (record.oid, model) not in seen]


def _ab_record_changes(git: Git, cat: CatFile, rev_range: str) -> list[tuple[str, CommitRecord]]:
    """``(model, commit)`` for each first-parent commit of ``rev_range`` that changes an A/B test's record
    (``experiments/<name>.yaml``): starting or stopping a test routes traffic as surely as a promotion does,
    so a stage that must be signed needs these signed too. Oldest first."""
    changes = []
    for record in git.first_parent_log(rev_range, EXPERIMENTS_DIR)[::-1]:
        parent = record.parents[0] if record.parents else None
        here = cat.files(f"{record.oid}:{EXPERIMENTS_DIR}")
        there = cat.files(f"{parent}:{EXPERIMENTS_DIR}") if parent else {}
        changes += [(name.removesuffix(".yaml"), record) for name in sorted(set(here) | set(there))
                    if name.endswith(".yaml") and here.get(name) != there.get(name)]
    return changes


def _unsigned(events: list[tuple], signatures: dict[str, Signature]) -> list[str]:
    problems = []
    for stage, model, oid, candidates in events:
        found = best(signatures, candidates)
        if not found.good:
            problems.append(f"{stage.branch}: commit {oid[:8]}: {model}: {found.describe()}; .gitreg.yaml requires "
                            f"signed changes to {stage.name}: {FIX} (a forge's squash or rebase merge drops the "
                            "promoter's signature: merge with a merge commit)")
    return problems


def review_problems(git: Git, config: Config, stage, base: str, head: str) -> list[str]:
    """``check-promotion`` of a pull request into a stage ``signing:`` lists: each first-parent commit of
    ``head`` not in ``base`` that changes a model (the promotion commit) must be signed by an allowed
    signer, as the hook will require once a merge commit brings it in."""
    if config.signing is None or not config.signing.requires_stage(stage.name):
        return []
    with git.cat_file() as cat:
        events = _stage_events(git, cat, stage, f"{base}..{head}")
    signatures = check(git, [oid for *_, c in events for oid in c])
    return _unsigned(events, signatures)
