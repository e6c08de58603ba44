"""``trace``: one version's trust chain, from Git alone, every link checked.

The version tag (and its card against the tagged tree), the code commit, each data input against the DVC
pointer at the commit it was registered from, the base model chain, and every event of the version's history
(``log``'s events, consumed generically by action) with its evidence: the forge pull request a merge or squash
names, who proposed it, the gates and overrides the trailers record, and the signature state an injected checker
reports (by default :mod:`gitreg.services.signatures`; none: "not checked").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitreg.domain import refs
from gitreg.domain import trace as model
from gitreg.domain.event import Event
from gitreg.domain.pointer import is_md5
from gitreg.domain.trace import BROKEN, DIRTY, NOT_CHECKED, OK, Evidence, Link, Step, Trace
from gitreg.domain.trailers import parse_all
from gitreg.domain.version import ModelVersion
from gitreg.errors import GitregError
from gitreg.io.git import CommitRecord, Git
from gitreg.services import annotations, audit, lineage, retrieve, signatures
from gitreg.services.snapshot import Snapshot

Checker = Callable[[list[str]], Mapping[str, str]]
MAX_BASE_DEPTH = 64


def trace(git: Git, snapshot: Snapshot, found: ModelVersion, reference: str, check: Checker | None = None,
          required_for: Iterable[str] = ()) -> Trace:
    tagged = retrieve.tagged_card(git, found)
    card = tagged.card
    events = [event for event in audit.events(git, snapshot.config, list(snapshot.versions), found.name, None,
                                              snapshot.deprecations.values()) if _concerns(event, found)][::-1]
    tag_oids = {v.commit: v.tag_oid for v in snapshot.versions if v.tag_oid}
    steps = steps_with_evidence(git, events, check, tag_oids)
    tag_signature = _signatures(check, [found.tag_oid]).get(found.tag_oid) if check and found.tag_oid else None
    tag_link = _tag_link(found, tagged, tag_signature)
    lineage_data = card.lineage if isinstance(card.lineage, dict) else {}
    commit = lineage_data.get("commit") if _is_sha(lineage_data.get("commit")) else found.commit
    if not git.rev_parse(commit):
        commit = found.commit
    stages = {stage: view.tip for stage, view in snapshot.stage_views.items()
              if (entry := view.entries.get(found.name)) is not None and entry.version == found.version}
    deprecation = snapshot.deprecations.get((found.name, found.version))
    required = _required(steps, tag_signature, found.tag, set(required_for), check is not None)
    return Trace(
        reference=reference, model=found.name, version=found.version, tag=found.tag, commit=found.commit,
        created=card.created, author=f"{card.author.get('name', '')} <{card.author.get('email', '')}>",
        tag_link=tag_link, code=code_link(git, lineage_data),
        data=tuple(data_link(git, commit, entry) for entry in _list(lineage_data.get("data"))),
        base=tuple(base_chain(snapshot, lineage_data.get("base"), found)),
        environment=dict(card.environment), metrics=dict(card.metrics), params=dict(card.params),
        stages=stages, aliases=tuple(sorted(alias for alias, version in snapshot.aliases_of(found.name).items()
                                            if version == found.version)),
        steps=tuple(steps),
        annotations=tuple(a.to_dict() for a in annotations.of_version(git, found)[0]),
        deprecation=deprecation.to_dict() if deprecation else None,
        required_signatures=tuple(required))


def _concerns(event: Event, found: ModelVersion) -> bool:
    if event.action == "register":
        return event.version == found.version
    if found.version in (event.version, event.from_version):
        return True
    tested = event.experiment or {}
    if found.version in (tested.get("control"), tested.get("candidate")):  # an A/B test it was part of
        return True
    return any(isinstance(value, str) and found.tag in value for value in event.to_dict().values())


def _required(steps: list[Step], tag_signature: str | None, tag: str, stages: set[str], checked: bool) -> list[str]:
    """Signatures the registry requires that are not good (``version`` in ``stages``: the version tag)."""
    if not checked or not stages:
        return []
    missing = [f"tag {tag}: signature {tag_signature} where signing is required"] \
        if "version" in stages and tag_signature != model.GOOD else []
    return missing + [f"{step.action} to {step.stage} ({step.commit[:12]}): signature {step.evidence.signature} "
                      "where signing is required" for step in steps
                      if step.stage in stages and step.evidence.signature != model.GOOD]


# --------------------------------------------------------------------------------------- evidence
def steps_with_evidence(git: Git, events: list[Event], check: Checker | None,
                        tag_oids: Mapping[str, str]) -> list[Step]:
    """``events`` as steps, each with the evidence its commit holds (one ``cat-file`` exchange for all). A
    forge's squash keeps only the pull request's title: the gates and override of such a promotion are read
    from its promotion branch (``promote/<stage>/<name>-v<version>``) while the forge keeps it."""
    commits = sorted({event.commit for event in events if _is_sha(event.commit)})
    branches = _promotion_branches(git, events)
    found = commit_evidence(git, commits, branches)
    signed: dict[str, tuple[str, ...]] = {}
    if check:
        with git.cat_file() as cat:
            signed = {event.commit: _vouching(cat, event, tag_oids) for event in events}
    states = _signatures(check, sorted({oid for oids in signed.values() for oid in oids})) if check else {}
    steps = []
    for event in events:
        evidence, recovered = found.get(event.commit, (Evidence(), {}))
        change = recovered.get((event.model, event.stage, event.version))
        gates, override = tuple(event.gates), event.override
        if change is not None and not gates and not override:
            gates, override = change.gates, change.override
        if check:
            evidence = Evidence(evidence.pull_request, evidence.proposed_by, evidence.subject,
                                _best(states, signed[event.commit]), evidence.trailers_from)
        data = event.to_dict()
        extra = {key: value for key, value in data.items() if key not in _EVENT_FIELDS and value is not None}
        steps.append(Step(event.action, event.model, event.version, event.from_version, event.stage, event.author,
                          event.time, event.commit, gates, override, evidence, extra))
    return steps


def _vouching(cat, event: Event, tag_oids: Mapping[str, str]) -> tuple[str, ...]:
    """The objects whose signature counts for ``event``: a registration's tag; a stage event's commit and, for a
    forge's merge, the promotion commit it took in when that carries our trailers and installs the same model
    subtree (:func:`gitreg.services.signatures.event_candidates`, as the hook and ``verify`` judge it)."""
    if event.action == "register":
        return (tag_oids.get(event.commit, event.commit),)
    found = cat.get(event.commit) if _is_sha(event.commit) else None
    if not found or found[1] != "commit":
        return (event.commit,)
    head, _, message = found[2].decode(errors="replace").partition("\n\n")
    parents = tuple(line.split()[1] for line in head.splitlines() if line.startswith("parent "))
    return signatures.event_candidates(cat, CommitRecord(event.commit, parents, "", "", 0, message), event.model)


_STRENGTH = (model.GOOD, model.BAD, model.UNKNOWN_KEY, model.UNSIGNED)


def _best(states: Mapping[str, str], oids: tuple[str, ...]) -> str:
    """A good signature if any of ``oids`` has one, else the most telling state."""
    found = [states.get(oid, model.UNSIGNED) for oid in oids]
    return min(found, key=lambda state: _STRENGTH.index(state) if state in _STRENGTH else len(_STRENGTH))


_EVENT_FIELDS = {"action", "model", "version", "from_version", "stage", "author", "time", "commit", "gates",
                 "override"}


def _promotion_branches(git: Git, events: list[Event]) -> dict[str, str]:
    """``{event commit: promotion branch tip}`` for promotions whose commit carries no gates or override."""
    wanted = {event.commit: f"promote/{event.stage}/{event.model}-v{event.version}" for event in events
              if event.action == "promote" and not event.gates and not event.override and event.version}
    if not wanted:
        return {}
    tips = git.ref_values("refs/heads/promote/", "refs/remotes/origin/promote/")
    found = {}
    for commit, branch in wanted.items():
        tip = tips.get(f"refs/heads/{branch}") or tips.get(f"refs/remotes/origin/{branch}")
        if tip and tip != commit:
            found[commit] = tip
    return found


def commit_evidence(git: Git, commits: list[str], branches: Mapping[str, str] | None = None,
                    ) -> dict[str, tuple[Evidence, dict]]:
    """``{commit: (Evidence, {(model, stage, version): StageChange})}``; the changes are those of the trailers
    read from elsewhere: a forge merge's second parent has them read by ``log`` already, a squash's promotion
    branch (``branches``) has them read here."""
    branches = branches or {}
    result = {}
    with git.cat_file() as cat:
        cat.prefetch([*commits, *branches.values()])
        raw = {oid: cat.get(oid) for oid in commits}
        seconds = {}
        for oid, got in raw.items():
            if got and got[1] == "commit":
                headers, message = _split(got[2])
                parents = [line[7:] for line in headers.splitlines() if line.startswith("parent ")]
                if len(parents) > 1 and not parse_all(message):
                    seconds[oid] = parents[1]
        cat.prefetch(seconds.values())
        for oid, got in raw.items():
            if not got or got[1] != "commit":
                continue
            message = _split(got[2])[1]
            subject = message.splitlines()[0] if message else ""
            proposer, carrier, changes = None, None, {}
            if oid in seconds and (second := cat.get(seconds[oid])) and second[1] == "commit":
                proposer = _author(_split(second[2])[0])
            elif oid in branches and not parse_all(message) and (tip := cat.get(branches[oid])) and tip[1] == "commit":
                headers, carried = _split(tip[2])
                changes = {(c.model, c.stage, c.version): c for c in parse_all(carried)}
                if changes:
                    proposer, carrier = _author(headers), branches[oid]
            result[oid] = (Evidence(model.pull_request_of(subject), proposer, subject[:200], None, carrier), changes)
    return result


def _split(content: bytes) -> tuple[str, str]:
    headers, _, message = content.decode(errors="replace").partition("\n\n")
    return headers, message


def _author(headers: str) -> str | None:
    for line in headers.splitlines():
        if line.startswith("author "):
            return line[len("author "):].rpartition(">")[0] + ">"
    return None


def _signatures(check: Checker | None, oids: list[str]) -> dict[str, str]:
    if check is None or not oids:
        return {}
    return dict(check(oids))


# ------------------------------------------------------------------------------------------ links
def _tag_link(found: ModelVersion, tagged: ModelVersion, signature: str | None) -> Link:
    facts = {"tag_object": found.tag_oid, "commit": found.commit, "signature": signature}
    if found.card.to_dict() != tagged.card.to_dict():
        return Link("tag", found.tag, BROKEN, "the tag's card index differs from card.yaml at its commit", facts)
    return Link("tag", found.tag, OK, "", facts)


def code_link(git: Git, data: dict[str, Any]) -> Link:
    code = data.get("code") if isinstance(data.get("code"), dict) else {"commit": data.get("commit"),
                                                                      "dirty": data.get("dirty")}
    commit, repo, dirty = code.get("commit"), code.get("repo"), code.get("dirty")
    facts = {"repo": repo if isinstance(repo, str) else None, "commit": commit, "dirty": dirty}
    if not _is_sha(commit):
        return Link("code", "commit", BROKEN, f"the card records no commit id ({str(commit)[:60]!r})", facts)
    if repo is not None and not isinstance(repo, str):
        return Link("code", commit[:12], BROKEN, f"the card's code repository is not a URL ({str(repo)[:60]!r})", facts)
    name = f"{repo}@{commit[:12]}" if isinstance(repo, str) else commit[:12]
    if repo is None:
        if not git.rev_parse(commit):
            return Link("code", name, BROKEN, f"commit {commit} is not in this repository", facts)
    else:
        other = _code_git(repo)
        if other is None:
            return Link("code", name, NOT_CHECKED, f"{str(repo)[:200]} is not on this machine", facts)
        if not other.rev_parse(commit):
            return Link("code", name, BROKEN, f"commit {commit} is not in {repo}", facts)
    if dirty is True:
        return Link("code", name, DIRTY, "the training code had uncommitted changes", facts)
    return Link("code", name, OK, "", facts)


def _code_git(repo: str) -> Git | None:
    try:
        url = lineage.check_repo_url(repo, "code repository")
    except GitregError:
        return None
    if url.startswith("/"):
        try:
            return Git(Git.toplevel(url))
        except GitregError:
            return None
    return lineage.cached_git(url)


def data_link(git: Git, commit: str, entry: Any) -> Link:
    """A data input against the DVC pointer at ``commit`` (or, for another repository's input, at the commit
    it was read at, in the mirror this machine keeps of it)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return Link("data", "?", BROKEN, "the card's data entry is not a mapping with a path", {})
    facts = {key: entry.get(key) for key in sorted(entry)}
    try:
        path = lineage.check_relpath(entry["path"], "the card's data entry")
    except GitregError as exc:
        return Link("data", entry["path"][:80], BROKEN, str(exc), facts)
    recorded = entry.get("pointer_md5") if entry.get("dirty") else entry.get("md5")
    repo = entry.get("repo")
    name = f"{repo}@{entry.get('rev')}:{path}" if isinstance(repo, str) else path
    if not is_md5(recorded):
        return Link("data", name, BROKEN, f"the card records no DVC hash ({str(recorded)[:60]!r})", facts)
    if isinstance(repo, str):
        at = entry.get("commit")
        other = _data_git(repo)
        if other is None or not _is_sha(at):
            return Link("data", name, NOT_CHECKED, "the data repository is not mirrored on this machine", facts)
        where, reader = f"{repo} at {at[:12]}", lineage.git_reader(other, at)
        if not other.rev_parse(at):
            return Link("data", name, BROKEN, f"commit {at} is not in {repo}", facts)
    else:
        where, reader = f"commit {commit[:12]}", lineage.git_reader(git, commit)
    try:
        pointer = lineage.pointer_entry(reader, path)
    except GitregError as exc:
        return Link("data", name, BROKEN, f"the DVC pointer at {where} is unreadable: {exc}", facts)
    if pointer is None:
        return Link("data", name, BROKEN, f"no DVC pointer tracks {path} at {where}", facts)
    if pointer["md5"] != recorded:
        return Link("data", name, BROKEN, f"the DVC pointer at {where} says md5 {pointer['md5']}, "
                    f"the card records {recorded}", facts)
    if entry.get("dirty"):
        what = "missing from the workspace" if entry.get("md5") is None else \
            f"trained on workspace content (md5 {entry.get('md5')}) that no DVC pointer records"
        return Link("data", name, DIRTY, f"{what} (registered with --allow-dirty-data)", facts)
    return Link("data", name, OK, f"matches the DVC pointer at {where}", facts)


def _data_git(repo: str) -> Git | None:
    try:
        return lineage.cached_git(lineage.check_repo_url(repo, "data repository"))
    except GitregError:
        return None


def base_chain(snapshot: Snapshot, base: Any, found: ModelVersion) -> list[Link]:
    """The models this version was fine-tuned from, nearest first, each a registered version."""
    chain, seen = [], {(found.name, found.version)}
    while base is not None and len(chain) < MAX_BASE_DEPTH:
        if not isinstance(base, dict) or not isinstance(base.get("name"), str) or not isinstance(base.get("version"), str):
            chain.append(Link("base", "?", BROKEN, "the card's base is not {name, version}", {}))
            break
        name, version = base["name"], base["version"]
        label = f"{name}@v{version}"[:120]
        if (name, version) in seen:
            chain.append(Link("base", label, BROKEN, "the base chain loops", {"name": name, "version": version}))
            break
        seen.add((name, version))
        try:
            registered = snapshot.by_model.get(refs.check_name(name), {}).get(refs.check_version(version))
        except GitregError:
            registered = None
        if registered is None:
            chain.append(Link("base", label, BROKEN, "not a registered version", {"name": name, "version": version}))
            break
        chain.append(Link("base", registered.tag, OK, "", {"name": name, "version": version,
                                                            "commit": registered.commit}))
        try:
            base = registered.card.lineage.get("base")
        except GitregError:
            break
    return chain


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and len(value) in (40, 64) and all(c in "0123456789abcdef" for c in value)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
