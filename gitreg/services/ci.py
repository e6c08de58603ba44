"""The CI workflows ``gitreg init`` writes and the one pip requirement they install (``ci.install``).

The workflows are rendered from the templates with the pin written into them, so what CI runs is in
the file a reviewer reads, and a pull request cannot change what is installed without changing it.
"""

from __future__ import annotations

import json
import re

from gitreg.errors import InvalidInputError

# The package index's `gitreg` is someone else's unrelated project: ours is published under this name.
DISTRIBUTION = "gitreg-dvc"
WORKFLOWS = ("gitreg-promotion.yml", "gitreg-verify.yml")
WORKFLOW_DIR = ".github/workflows"
PLACEHOLDER = '"@GITREG_CI_INSTALL@"'  # a quoted string, so the templates are valid YAML too
INSTALL_LINE = re.compile(r"^ +GITREG_INSTALL: (.*)$", re.MULTILINE)
MAX_LENGTH = 1000
CI_SECTION = """\
# What the workflows under .github/workflows install (a pip requirement). Change it with
# `gitreg init --ci-install SPEC`, which rewrites the workflows in the same commit.
ci:
  install: {spec}
"""


def default_requirement() -> str:
    """The gitreg that is running: its commit when it was installed from Git, else its exact release."""
    from importlib import metadata  # ~0.1 s: kept off the start-up path of every command

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise InvalidInputError(
            f"{DISTRIBUTION} is not installed as a package, so init cannot pin it: pass --ci-install SPEC"
        ) from exc
    return requirement_for(dist.version, dist.read_text("direct_url.json"))


def requirement_for(version: str, direct_url: str | None) -> str:
    """``gitreg-dvc==X`` or, for an install from a Git URL (PEP 610), that URL at its commit."""
    info = json.loads(direct_url) if direct_url else {}
    vcs = info.get("vcs_info") or {}
    url = info.get("url", "")
    if vcs.get("vcs") == "git" and re.fullmatch(r"[0-9a-f]{40}", vcs.get("commit_id", "")) \
            and not url.startswith("file:"):
        return check_requirement(f"{DISTRIBUTION} @ git+{url}@{vcs['commit_id']}")
    return f"{DISTRIBUTION}=={version}"


def check_requirement(spec: str) -> str:
    """One pip requirement, refused when it could be an option, an expression or someone else's package."""
    spec = spec.strip()
    if not spec or len(spec) > MAX_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in spec):
        raise InvalidInputError(f"--ci-install must be one pip requirement on one line, e.g. {DISTRIBUTION}==0.1.0")
    if spec.startswith("-") or "${{" in spec:
        raise InvalidInputError(
            f"--ci-install {spec!r} is not a requirement (no pip options, no ${{{{ }}}} expressions): "
            f"give e.g. {DISTRIBUTION}==0.1.0 or git+https://github.com/ORG/gitreg@COMMIT"
        )
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    by_url = name and spec[name.end():].lstrip().startswith("@")  # `NAME @ URL` installs what URL holds
    if name and re.sub(r"[-_.]+", "-", name.group().lower()).strip("-") == "gitreg" and not by_url:
        raise InvalidInputError(
            f"--ci-install {spec!r} would install the package index's `gitreg`, an unrelated project: "
            f"use {DISTRIBUTION}==VERSION or a URL you control"
        )
    return spec


def config_section(spec: str) -> str:
    return CI_SECTION.format(spec=json.dumps(spec))


def with_pin(config_text: str, spec: str) -> str:
    """``.gitreg.yaml`` with ``ci.install`` set to ``spec``, every other line (comments too) kept.
    The caller parses the result to confirm it; an unusual layout is then left for the user to edit."""
    lines = config_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"ci:", line)), None)
    install = f"  install: {json.dumps(spec)}\n"
    if start is None:
        return config_text + ("" if config_text.endswith("\n") or not config_text else "\n") + config_section(spec)
    if not re.fullmatch(r"ci:\s*(#.*)?", lines[start].rstrip("\n")):  # flow style on one line
        return "".join(lines[:start] + ["ci:\n", install] + lines[start + 1:])
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        if re.match(r"\s+install:", lines[end]):
            return "".join(lines[:end] + [install] + lines[end + 1:])
        end += 1
    return "".join(lines[:start + 1] + [install] + lines[start + 1:])


def workflow_files(spec: str) -> dict[str, bytes]:
    """The workflows as ``init`` writes them, installing ``spec``."""
    from importlib import resources

    templates = resources.files("gitreg") / "templates"
    return {f"{WORKFLOW_DIR}/{name}": (templates / name).read_text().replace(PLACEHOLDER, json.dumps(spec)).encode()
            for name in WORKFLOWS}


def installed_by(workflow: bytes) -> list[str]:
    """The requirements a workflow installs, as its GITREG_INSTALL lines say (each once: two jobs may
    install the same pin)."""
    return list(dict.fromkeys(_scalar(value) for value in INSTALL_LINE.findall(workflow.decode(errors="replace"))))


def disagreements(spec: str | None, files: dict[str, bytes | None]) -> list[str]:
    """What is wrong between ``ci.install`` and the workflow files found (path -> content or None)."""
    if not spec:
        return ["no ci.install in .gitreg.yaml: run `gitreg init --ci-install SPEC` to pin what CI installs"]
    problems = []
    for path, content in files.items():
        found = installed_by(content) if content is not None else []
        if content is None:
            problems.append(f"{path} is missing: run `gitreg init --ci-install {spec}`")
        elif found != [spec]:
            problems.append(f"{path} installs {found or 'nothing pinned'} but ci.install is {spec!r}: "
                            f"run `gitreg init --ci-install {spec}`")
    return problems


def _scalar(value: str) -> str:
    value = value.strip()
    try:
        return json.loads(value) if value.startswith('"') else value
    except ValueError:
        return value
