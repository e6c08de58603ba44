"""An adversarial sweep of today's features (ab, watch, signing, trace/audit, web): hostile input gets one
clear line and a distinct exit code, and the repository stays as it was."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.cli import cli
from gitreg.domain.experiment import path_of
from gitreg.errors import InvalidInputError
from gitreg.services import compliance
from gitreg.web import server
from tests.conftest import Invoker, git, snapshot
from tests.test_ab import STAGE, _by_hand, scene  # noqa: F401 (the A/B scene: churn 0.1.0-0.3.0, 0.1.0 in production)
from tests.test_bad_input import refused


# ------------------------------------------------------------------------------------ ab: outcomes, split, id
def test_hostile_outcomes_files_and_arguments(scene, tmp_path):  # noqa: F811
    alice, _ = scene
    alice.ab_start("churn", candidate="0.2.0", split=10, key_field="user_id", experiment_id="sweep")
    run = Invoker(alice.root)
    bad = tmp_path / "out.csv"
    cases = [
        (b"user_id,conversion\na,nan\n", "not a finite number"),
        (b"user_id,conversion\na,inf\n", "not a finite number"),
        (b"user_id,conversion\na,-Infinity\n", "not a finite number"),
        (b"", "is empty"),
        (b"\n\n", "is empty"),
        (b"user_id,conversion\na,\xff\xfe1\n", "UTF-8"),
        (b"\xff\xfeu\x00s\x00", "UTF-8"),
        (b"user_id,conversion\na," + b"1" * 200_000 + b"\n", "line 2"),
        (b'user_id,conversion\n"a' + b"x" * 200_000 + b"\n", "line 2"),
        (b"user_id,conversion\na,1\x00\n", "line 2"),
        (b"user_id,conversion\na\n", "fewer columns"),
    ]
    for n, (body, match) in enumerate(cases):
        bad.write_bytes(body)
        refused(run, "ab", "report", "churn", "--outcomes", str(bad), code=4, match=match)
        if n in (0, 5, 7):  # status reads the file the same way
            refused(run, "ab", "status", "churn", "--outcomes", str(bad), "--json", code=4, match=match)
    run("ab", "report", "churn", "--outcomes", str(tmp_path), expect=2)  # Click's: a directory
    # duplicate keys are counted (each row is one outcome) and a duplicate header column is not a crash
    bad.write_bytes(b"user_id,conversion,conversion\na,1,0\na,1,0\nb,0,1\n")
    shown = json.loads(run("ab", "report", "churn", "--outcomes", str(bad), "--json").output)
    assert shown["rows"] == 3
    bad.write_bytes(b"user_id,conversion\r\n\r\na,1\r\n")  # blank lines and CRLF: read
    assert json.loads(run("ab", "report", "churn", "--outcomes", str(bad), "--json").output)["rows"] == 1
    for hostile_id in ("../x", "a\nb", "a/b", ".hidden", "x" * 101, ""):
        with pytest.raises(InvalidInputError):
            alice.ab_start("churn", candidate="0.3.0", split=10, experiment_id=hostile_id, dry_run=True)
    for split in ("nan", "inf", "-1", "0", "100", "1e400"):
        refused(run, "ab", "start", "churn", "--candidate", "0.3.0", "--split", split, code=4, match="--split")


def test_hostile_experiment_records_on_the_stage_branch(scene, tmp_path):  # noqa: F811
    """A hand-made experiments/ file (alias bomb, huge, unknown keys, not YAML) is refused by the reads."""
    alice, _ = scene
    run = Invoker(alice.root)
    bomb = b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n"
    records = [bomb, b"id: " + b"x" * (2 << 20) + b"\n", b"id: [unclosed\n", b"foo: 1\n", b"- a\n- b\n",
               b"\xff\xfe\x00", b"!!python/object:os.system {}\n"]
    tip = git(alice.root, "rev-parse", STAGE).strip()
    for record in records:
        _by_hand(alice, put={path_of("churn"): record})
        before = snapshot(alice.root)
        # status lists the records that read (a broken one is `verify`'s to report); report names it, exit 17
        assert json.loads(run("ab", "status", "--json").output) == []
        assert json.loads(run("ab", "status", "churn", "--json").output) == []
        result = run("ab", "report", "churn", "--outcomes", str(tmp_path / "none.csv"), expect=17)
        line = result.stderr.strip().splitlines()
        assert len(line) == 1 and line[0].startswith("error: ") and "experiments/churn.yaml" in line[0], line
        run("log", "churn", "--json")  # the log reads commits, not the record: it still works
        status, page = server.Site(alice).page("/model/churn", {})
        assert status in (200, 500) and "Traceback" not in page
        assert snapshot(alice.root) == before
        git(alice.root, "update-ref", f"refs/heads/{STAGE}", tip)


# ------------------------------------------------------------------------------------ watch
def test_watch_refuses_hostile_webhooks_and_state_files(scene, tmp_path):  # noqa: F811
    alice, _ = scene
    run = Invoker(alice.root)
    for url in ("file:///etc/passwd", "http://user:pass@hooks.example.com/x", "ftp://h/x", "http://", "gopher://h",
                "http://h:99999/", "http://h/ x", "http://h/\nx", "javascript:alert(1)"):
        refused(run, "watch", "--once", "--webhook", url, code=4, match="webhook URL")
    state = tmp_path / "state"
    for garbage in (b"\xff\xfe\x00garbage\n", b"not json\n", b'{"gitreg-watch": 99}\n', b"[1,2]\n"):
        state.write_bytes(garbage)
        refused(run, "watch", "--once", "--state", str(state), code=4, match="not a gitreg watch state file")
        assert state.read_bytes() == garbage
    run("watch", "--once", "--state", str(tmp_path), expect=2)  # Click's: a directory
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    (tmp_path / "link").symlink_to(victim)
    refused(run, "watch", "--once", "--state", str(tmp_path / "link"), code=4, match="state")
    assert victim.read_bytes() == b"precious\n"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    refused(run, "watch", "--once", "--state", str(tmp_path / "dangling"), code=4, match="symbolic link")
    assert not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------------------------------ trace / audit
def test_audit_dates_and_broken_trace_refs(scene, tmp_path, monkeypatch):  # noqa: F811
    alice, _ = scene
    monkeypatch.chdir(alice.root)
    run = Invoker(alice.root)
    for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "2026-13-01", "yesterday", "2026-01-01\x00",
                  "9" * 5000, "", " "):
        refused(run, "audit", "--since", since, code=4, match="--since")
    refused(run, "audit", "--until", "9999-12-31", code=4, match="--until")
    refused(run, "audit", "--since", "2026-02-01", "--until", "2026-01-01", code=4, match="not after")
    for window in (("0001-01-01", None), (None, "9999-12-30")):  # the extreme dates that do fit are read
        compliance.window(*window, None, None)
    for ref in ("churn@../../etc/passwd", "churn@9.9.9", "churn#nowhere", "../x", "churn@0.1.0\nx", "x" * 5000):
        result = run("trace", ref, expect=run_code_any(run, ("trace", ref)))
        assert result.exit_code in (4, 5) and result.stderr.startswith("error: "), result.stderr
    assert "Exits 20 when a link is broken" in run("trace", "--help").output
    refused(run, "audit", "-o", str(tmp_path / "no" / "such" / "audit.md"), code=4, match="cannot write the report")
    if Path("/dev/full").exists():
        refused(run, "audit", "-o", "/dev/full", code=4, match="cannot write the report")


def run_code_any(run: Invoker, args) -> int:
    return run.runner.invoke(cli, list(args), catch_exceptions=False).exit_code


# ------------------------------------------------------------------------------------ web
def test_the_web_server_refuses_hostile_requests(scene, monkeypatch):  # noqa: F811
    alice, _ = scene
    monkeypatch.setattr(server, "RECHECK", 0.0)
    httpd = server.serve(alice, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def fetch(path: str) -> int:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/static/%00", "/static/..%2f..%2fserver.py", "/static/", "/../../etc/passwd",
                     "/model/..%2f..%2fetc%2fpasswd", "/model/churn/v/..%2f..", "/nope", "/model/%00",
                     "/model/churn/v/%00"):
            assert fetch(path) in (400, 404), path
        assert fetch("/?page=" + "9" * 3000) in (200, 400)
        for page in ("0", "-1", "1.5", "999999999", "99999999999"):
            for where in ("/", "/log", "/model/churn"):
                assert fetch(f"{where}?page={page}") in (200, 400, 404), (where, page)
        assert fetch("/?page=%C2%B2") == 400  # '²' is a digit to str.isdigit, not to int()
        assert fetch("/log?" + "&".join(f"k{i}=v" for i in range(2000))) == 200
        assert fetch("/diff?a=churn@0.1.0&b=" + "x" * 4000) in (400, 404)
        assert fetch("/model/" + "x" * 70_000) == 414  # the standard library's limit on a request line
        assert fetch("/") == 200  # and the server still serves
    finally:
        httpd.shutdown()
        httpd.server_close()


# ------------------------------------------------------------------------------------ signing
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_hostile_allowed_signers_lines_are_named_and_not_handed_to_git():
    from gitreg.domain import signing
    from gitreg.services.signatures import _usable_lines

    good = f"ada@example.com ssh-ed25519 {KEY}"
    for hostile in (f"{good}\x0cmallory@evil ssh-rsa {KEY}", f"ada@example.com\x00x ssh-ed25519 {KEY}",
                    f"{good}\rmallory@evil ssh-ed25519 {KEY}", f"{good}\u2028mallory@evil ssh-ed25519 {KEY}",
                    f'ada@example.com command="rm -rf /" ssh-ed25519 {KEY}', "ada@example.com ssh-ed25519 !!notbase64",
                    "ada@example.com", "x" * 100_000):
        problems = signing.allowed_signers_problems(f"# ok\n{good}\n{hostile}\n")
        assert len(problems) == 1 and problems[0].startswith(".gitreg/allowed_signers line 3:"), problems
        assert _usable_lines(f"# ok\n{good}\n{hostile}\n") == f"{good}\n"
    assert _usable_lines(f"{good}\r\n{good}") == f"{good}\n{good}\n"  # CRLF files are read


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_allowed_signers_checks_never_raise_and_keep_only_clean_lines(text):
    from gitreg.domain import signing
    from gitreg.services.signatures import _usable_lines

    signing.allowed_signers_problems(text)
    for line in _usable_lines(text).split("\n"):
        assert not any(ord(c) < 32 and c != "\t" for c in line)


def test_hand_made_experiment_trailers_do_not_break_the_reads(scene, tmp_path, monkeypatch):  # noqa: F811
    """Commits on the stage branch whose trailers claim A/B actions, with no record or lies in the fields."""
    from gitreg.io.git import Git, TreeEdit

    alice, _ = scene
    monkeypatch.chdir(alice.root)
    run = Invoker(alice.root)
    g = Git(alice.root)
    messages = [
        "x\n\nGitreg-Model: churn\nGitreg-Stage: production\nGitreg-Ab-Action: start\n",
        "x\n\nGitreg-Model: churn\nGitreg-Stage: production\nGitreg-Ab-Action: conclude\nGitreg-Experiment: ../e\n"
        "Gitreg-Ab-Split: nan\nGitreg-Ab-Control: 9.9.9\nGitreg-Ab-Candidate: \u202e\n",
        "x\n\nGitreg-Model: ../../etc\nGitreg-Stage: production\nGitreg-Ab-Action: stop\n",
        "x\n\nGitreg-Model: churn\nGitreg-Stage: nowhere\nGitreg-Ab-Action: stop\nGitreg-Experiment: " + "e" * 5000 + "\n",
    ]
    tip = g.rev_parse(STAGE)
    for message in messages:
        commit = g.commit(tip, TreeEdit(remove=[], graft={}, put={"experiments/README.txt": b"x"}), message,
                          g.identity())
        g.update_ref(f"refs/heads/{STAGE}", commit, tip, "test")
        before = snapshot(alice.root)
        for args in (("log", "--json"), ("log", "churn"), ("ab", "status", "--json"), ("ab", "status", "churn"),
                     ("trace", "churn#production", "--json"), ("audit", "--format", "json"),
                     ("watch", "--once", "--json", "--state", str(tmp_path / "w.state"))):
            result = run.runner.invoke(cli, list(args), catch_exceptions=True)
            assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
            assert result.exit_code in (0, 1, 4, 5, 13, 17, 20), (args, result.exit_code, result.output)
            if result.exit_code:
                assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, \
                    (args, result.stderr)
        for path in ("/", "/log", "/model/churn", "/model/churn/v/0.1.0"):
            status, page = server.Site(alice).page(path, {})
            assert status == 200, (path, page[-500:])
        assert snapshot(alice.root) == before
        g.update_ref(f"refs/heads/{STAGE}", tip, commit, "test")
        (tmp_path / "w.state").unlink(missing_ok=True)


def test_hand_made_tags_whose_index_json_is_broken_or_lies(scene, tmp_path, monkeypatch):  # noqa: F811
    """Tags made with plain git (as a push past a hook-less remote could bring): the reads name them or skip them."""
    alice, _ = scene
    monkeypatch.chdir(alice.root)
    run = Invoker(alice.root)
    real = git(alice.root, "cat-file", "-p", "churn@v0.1.0").split("\n\n", 1)[1].split("\n\n", 1)[1]
    bodies = ["{not json", real.replace('"0.1.0"', '"0.2.0"'), "[" * 100_000 + "]" * 100_000,
              real.replace('"metrics":{}', '"metrics":{"auc":NaN}')]
    for body in bodies:
        (tmp_path / "message").write_text(f"Register churn v0.9.0\n\n{body}\n")
        git(alice.root, "tag", "-a", "-F", str(tmp_path / "message"), "churn@v0.9.0", "churn@v0.1.0^{commit}")
        before = snapshot(alice.root)
        for args in (("trace", "churn@0.9.0", "--json"), ("audit", "--format", "json"), ("log", "--json"),
                     ("list", "--json"), ("show", "churn@0.9.0", "--json")):
            result = run.runner.invoke(cli, list(args), catch_exceptions=True)
            assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
            if result.exit_code:
                assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, \
                    (args, result.stderr)
            assert result.exit_code == (8 if "churn@0.9.0" in args else 0), (args, result.exit_code, result.stderr)
        for path in ("/", "/log", "/model/churn", "/model/churn/v/0.9.0"):
            status, page = server.Site(alice).page(path, {})
            assert status in (200, 404, 500) and "Traceback" not in page, (path, status)
        assert snapshot(alice.root) == before
        git(alice.root, "tag", "-d", "churn@v0.9.0")


def test_a_webhook_that_redirects_is_reported_not_followed():
    """A redirect would carry the signed event to an address nobody configured: it is the answer, a failure."""
    import http.server
    import threading

    from gitreg.io import deliver

    hits = []

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(307)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        problem = deliver.post(url, b"{}", {}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert problem is not None and "307" in problem and hits == ["/hook"]


@pytest.mark.parametrize("module, bridge, loader", [("mlflow", "mlflow_bridge", "_mlflow"),
                                                    ("wandb", "wandb_bridge", "_wandb")])
def test_an_integration_without_its_package_says_which_to_install(monkeypatch, module, bridge, loader):
    """The package is made unimportable (as on a machine without the extra), not replaced."""
    import importlib

    from gitreg.errors import ExitCode, MissingPackageError

    monkeypatch.setitem(sys.modules, module, None)
    found = importlib.import_module(f"gitreg.integrations.{bridge}")
    with pytest.raises(MissingPackageError, match=r"is not installed: `pip install 'gitreg-dvc\[") as caught:
        getattr(found, loader)()
    assert caught.value.exit_code == ExitCode.MISSING_PACKAGE
