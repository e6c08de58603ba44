"""``gitreg watch`` (issue 14, part 4): a bare remote with the hook that other clones change between rounds,
a state file that survives restarts (and a kill mid-write), ``--exec``, and webhooks received by a real HTTP
server on 127.0.0.1 that verifies the signature, fails on purpose and is retried."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.domain import watch as rules
from gitreg.errors import InvalidInputError
from gitreg.services.watch import State
from tests.conftest import Invoker, git, hooked_scene

SECRET = "s3cret-for-tests"


@pytest.fixture
def shared(tmp_path, new_registry, clock, artifact, prebuilt, monkeypatch):
    """m v0.1.0 and v0.2.0 pushed by alice to a bare remote with the hook; (alice, bare, bob: a clone)."""
    prebuilt.copy(("hooked", 2), hooked_scene(new_registry, artifact, [("m", 0), ("m", 1)]), tmp_path)
    monkeypatch.setenv("GITREG_BACKOFF_SCALE", "0")  # retries without sleeping
    monkeypatch.setenv("WATCH_SECRET", SECRET)
    bare = tmp_path / "origin.git"
    return Registry(tmp_path / "alice"), bare, clone(bare, tmp_path / "bob")


def clone(bare: Path, path: Path) -> Registry:
    subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
    return Registry(path)


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def summary(events: list[dict]) -> list[tuple]:
    return [(e["action"], e["model"], e["version"], e.get("stage") or e.get("alias")) for e in events]


class Receiver:
    """A webhook receiver on 127.0.0.1: records each body, whether its signature verified, and answers
    500 to the first ``failures`` requests (all of them with ``failures=-1``)."""

    def __init__(self, failures: int = 0):
        self.failures, self.requests, self.received = failures, 0, []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests += 1
                if owner.failures == -1 or owner.requests <= owner.failures:
                    self.send_response(500)
                    self.end_headers()
                    return
                verified = rules.signature_matches(SECRET.encode(), body, self.headers.get("X-Gitreg-Signature"))
                owner.received.append((json.loads(body), verified, self.headers.get("X-Gitreg-Delivery")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_events_of_a_shared_remote_arrive_in_order_once_even_late_ones(shared, tmp_path, clock):
    alice, bare, bob = shared
    carol = clone(bare, tmp_path / "carol")  # she will push an alias made early, after others pushed later
    watch = Invoker(bob.root)
    first = lines(watch("watch", "--once", "--json").output)
    assert summary(first) == [("register", "m", "0.1.0", None), ("register", "m", "0.2.0", None)]
    assert all(len(event["id"]) == 20 for event in first)
    assert watch("watch", "--once", "--json").output == ""  # a restart repeats nothing

    clock.tick()
    early = clock.now
    clock.tick(600)
    alice.promote("m", "0.1.0", "staging", push=True)
    clock.tick()
    alice.annotate("m@0.2.0", labels=["validated"], note="checked on site B", push=True)
    clock.tick()
    alice.promote("m", "0.2.0", "staging", push=True)
    clock.tick()
    alice.rollback("m", "staging", push=True)
    clock.tick()
    alice.deprecate("m@0.2.0", "leaks the label", push=True)
    bob_refs = git(bob.root, "for-each-ref")
    second = lines(watch("watch", "--once", "--json").output)
    assert summary(second) == [("promote", "m", "0.1.0", "staging"), ("annotate", "m", "0.2.0", None),
                               ("promote", "m", "0.2.0", "staging"), ("rollback", "m", "0.1.0", "staging"),
                               ("deprecate", "m", "0.2.0", None)]
    assert second[1]["labels"] == ["validated"] and second[1]["note"] == "checked on site B"
    assert second[3]["from_version"] == "0.2.0" and second[4]["note"] == "leaks the label"
    assert git(bob.root, "for-each-ref") == bob_refs  # bob's clone is read, never changed

    clock.now = early  # carol's alias change carries a time older than every event reported since
    clock.tick(0)
    carol.alias_set("m", "champion", "0.1.0", push=True)
    late = lines(watch("watch", "--once", "--json").output)
    assert summary(late) == [("alias-set", "m", "0.1.0", "champion")]
    assert late[0]["time"] < second[0]["time"]
    assert watch("watch", "--once").output == ""

    text = watch("watch", "--once", "--state", str(tmp_path / "other.state")).output.splitlines()
    assert len(text) == 8 and "register    m@0.1.0" in text[0] and "promote     m@0.1.0 in staging" in text[3]
    assert "alias-set   m@champion -> 0.1.0" in text[2] and "by Ada Lovelace <ada@example.com>" in text[0]


def test_repo_url_watches_without_a_clone_and_from_now_skips_history(shared, tmp_path, clock):
    alice, bare, _ = shared
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = Invoker(elsewhere)
    assert summary(lines(run("watch", "--repo", str(bare), "--once", "--json").output))[0] == (
        "register", "m", "0.1.0", None)
    fresh = str(tmp_path / "fresh.state")
    assert run("watch", "--repo", str(bare), "--once", "--json", "--from-now", "--state", fresh).output == ""
    clock.tick()
    alice.promote("m", "0.2.0", "production", push=True)
    for state in (fresh, None):  # both states see only the promotion
        extra = ["--state", state] if state else []
        assert summary(lines(run("watch", "--repo", str(bare), "--once", "--json", *extra).output)) == [
            ("promote", "m", "0.2.0", "production")]


def test_webhook_is_signed_and_exec_gets_the_event_on_stdin(shared, tmp_path, receiver):
    _, _, bob = shared
    server = receiver()
    out = tmp_path / "exec.jsonl"
    result = Invoker(bob.root)("watch", "--once", "--webhook", server.url, "--secret-env", "WATCH_SECRET",
                               "--exec", f"cat >> {out}; echo \"$GITREG_EVENT_ACTION\" >> {out}.actions")
    assert [(event["version"], verified) for event, verified, _ in server.received] == [("0.1.0", True),
                                                                                         ("0.2.0", True)]
    assert [delivery for *_, delivery in server.received] == [event["id"] for event, *_ in server.received]
    assert [json.loads(line)["version"] for line in out.read_text().splitlines()] == ["0.1.0", "0.2.0"]
    assert Path(f"{out}.actions").read_text() == "register\nregister\n"
    assert result.stderr == ""
    # a body changed in transit does not verify
    body = rules.body(server.received[0][0])
    assert not rules.signature_matches(SECRET.encode(), body + b" ", rules.signature(SECRET.encode(), body))


def test_a_failing_webhook_is_retried_reported_and_delivered_next_round_in_order(shared, receiver, clock):
    alice, _, bob = shared
    watch = Invoker(bob.root)
    flaky = receiver(failures=2)
    watch("watch", "--once", "--webhook", flaky.url, "--secret-env", "WATCH_SECRET")
    assert flaky.requests == 4 and [e["version"] for e, *_ in flaky.received] == ["0.1.0", "0.2.0"]

    clock.tick()
    alice.promote("m", "0.1.0", "staging", push=True)
    clock.tick()
    alice.promote("m", "0.2.0", "staging", push=True)
    down = receiver(failures=-1)
    result = watch("watch", "--once", "--json", "--webhook", down.url, "--secret-env", "WATCH_SECRET",
                   "--attempts", "3", expect=1)
    assert down.requests == 3  # the first new event, three times; the second waits behind it
    assert "webhook delivery of event" in result.stderr and "failed after 3 attempts" in result.stderr
    assert "500" in result.stderr and "tried again next round" in result.stderr
    assert summary(lines(result.stdout)) == [("promote", "m", "0.1.0", "staging")]

    back = receiver()
    again = watch("watch", "--once", "--json", "--webhook", back.url, "--secret-env", "WATCH_SECRET")
    assert [e["version"] for e, *_ in back.received] == ["0.1.0", "0.2.0"]  # in order, the failed one first
    assert len(lines(again.stdout)) == 2
    assert watch("watch", "--once", "--webhook", back.url).output == "" and len(back.received) == 2


def test_a_failing_command_is_reported_and_the_watch_goes_on(shared, tmp_path):
    _, _, bob = shared
    watch = Invoker(bob.root)
    result = watch("watch", "--once", "--json", "--exec", "exit 3", expect=1)
    assert len(lines(result.stdout)) == 2  # both events shown
    assert result.stderr.count("--exec for event") == 2 and "`exit 3` exited 3" in result.stderr
    assert watch("watch", "--once", "--exec", "exit 3").output == ""  # delivered: not run again


def test_one_rounds_loop_and_a_state_cut_short_by_a_kill(shared, tmp_path):
    _, _, bob = shared
    state = tmp_path / "w.state"
    shown = []
    watcher = bob.watcher(state=state)
    watcher.run(0.1, shown.append, pytest.fail, rounds=2)  # the loop of `watch` without --once
    watcher.state.close()
    assert [event["version"] for event in shown] == ["0.1.0", "0.2.0"]
    # a kill -9 while the second id was written: half a line; that event is delivered again, once
    text = state.read_text().splitlines()
    state.write_text("\n".join(text[:-1]) + "\n" + text[-1][:7])
    again = bob.watcher(state=state)
    assert [e["version"] for e in _round(again)] == ["0.2.0"]
    assert _round(again) == []
    again.state.close()
    assert len(State(state, "x").seen) == 2


def test_a_watch_killed_between_delivery_and_memory_delivers_that_event_again_once(shared, tmp_path):
    _, _, bob = shared
    out = tmp_path / "seen.jsonl"
    args = [sys.executable, "-m", "gitreg", "watch", "--once", "--exec", f"cat >> {out}; echo >> {out}"]
    killed = subprocess.run(args, cwd=bob.root, capture_output=True, env={**os.environ, "GITREG_FAULT": "watch:delivered"})
    assert killed.returncode == -signal.SIGKILL
    assert [json.loads(line)["version"] for line in out.read_text().splitlines() if line] == ["0.1.0"]
    Invoker(bob.root)("watch", "--once", "--exec", f"cat >> {out}; echo >> {out}")
    assert [json.loads(line)["version"] for line in out.read_text().splitlines() if line] == ["0.1.0", "0.1.0", "0.2.0"]
    assert Invoker(bob.root)("watch", "--once").output == ""


def _round(watcher) -> list[dict]:
    shown = []
    watcher.round(shown.append, pytest.fail)
    return shown


@pytest.mark.parametrize("args, code, says", [
    (["--webhook", "ftp://hooks.example.com/x"], 4, "invalid webhook URL 'ftp://hooks.example.com/x'"),
    (["--webhook", "http://"], 4, "invalid webhook URL"),
    (["--webhook", "not a url"], 4, "invalid webhook URL"),
    (["--webhook", "http://127.0.0.1:99999/x"], 4, "invalid webhook URL"),
    (["--webhook", "https://user:pw@hooks.example.com/x"], 4, "carries credentials"),
    (["--webhook", "http://127.0.0.1/x", "--secret-env", "NO_SUCH_VARIABLE"], 4, "NO_SUCH_VARIABLE is not set"),
    (["--secret-env", "WATCH_SECRET"], 2, "give --webhook URL too"),
    (["--webhook", "http://127.0.0.1/x", "--attempts", "0"], 4, "give 1 to 20"),
])
def test_bad_input_is_one_clear_line_and_delivers_nothing(shared, args, code, says):
    _, _, bob = shared
    before = git(bob.root, "for-each-ref")
    result = Invoker(bob.root)("watch", "--once", *args, expect=code)
    assert says in result.output and result.stdout == ""
    assert git(bob.root, "for-each-ref") == before
    assert not list((Path(git(bob.root, "rev-parse", "--absolute-git-dir").strip()) / "gitreg").glob("watch-*"))


def test_a_second_watch_on_one_state_a_foreign_state_and_a_non_registry_are_refused(shared, tmp_path):
    _, _, bob = shared
    run = Invoker(bob.root)
    state = tmp_path / "held.state"
    held = bob.watcher(state=state)
    assert "another `gitreg watch` is using" in run("watch", "--once", "--state", str(state), expect=6).output
    held.state.close()
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes\n")
    assert "is not a gitreg watch state file" in run("watch", "--once", "--state", str(foreign), expect=4).output
    assert foreign.read_text() == "my notes\n"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert Invoker(plain)("watch", "--once", expect=3).output.startswith("error: ")


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=60))
def test_url_checking_refuses_with_invalid_input_only(text):
    try:
        assert rules.check_url(text).startswith(("http://", "https://"))
    except InvalidInputError:
        pass


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40))
def test_signature_round_trip(payload, secret):
    assert rules.signature_matches(secret, payload, rules.signature(secret, payload))
    assert not rules.signature_matches(secret + b"x", payload, rules.signature(secret, payload))
    assert not rules.signature_matches(secret, payload, None)


@given(st.dictionaries(st.sampled_from(rules.IDENTITY_FIELDS), st.none() | st.text(max_size=10)),
       st.text(max_size=10))
def test_event_ids_depend_on_identity_fields_only(event, extra):
    assert rules.event_id(event) == rules.event_id({**event, "gates": extra, "override": extra})


def test_an_ab_event_reads_as_what_it_compares():
    from gitreg.domain.watch import describe

    test = {"id": "exp1", "candidate": "0.2.0", "control": "0.1.0", "split": 10.0, "verdict": "candidate wins"}
    line = describe({"action": "ab-conclude", "model": "churn", "version": "0.2.0", "stage": "production",
                     "time": "T", "author": "Ada", "experiment": test})
    assert line == "T  ab-conclude churn in production: A/B exp1 candidate 0.2.0 on 10.0% vs 0.1.0, candidate wins  by Ada"
