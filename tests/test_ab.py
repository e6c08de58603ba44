"""A/B tests (issue 13): start, sticky routing, a report that says when it is decided, conclusion, status,
and the server's rules for experiment commits."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.domain import abstats, routing
from gitreg.domain.experiment import path_of
from gitreg.errors import ConflictError, GateError, InvalidInputError, NotFoundError
from gitreg.io.git import Git, TreeEdit
from gitreg.services import hook
from tests.conftest import HEAVY, Invoker, git, imported_by, snapshot
from tests.test_bad_input import refused
from tests.test_stage_expectations import gitreg
from tests.test_tree_truth import clone_of

STAGE = "stage/production"


@pytest.fixture
def scene(tmp_path, new_registry, clock, artifact, prebuilt):
    """churn v0.1.0..v0.3.0 pushed to a hooked bare remote, v0.1.0 in production."""

    def build(folder):  # made locally and published in one push: one run of the hook
        bare = folder / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        hook.install(bare)
        registry = new_registry(folder / "alice", remote=folder / "store")
        git(registry.root, "remote", "add", "origin", str(bare))
        for n in (1, 2, 3):
            artifact.write_bytes(f"churn{n}".encode() * 100)
            registry.register("churn", artifact)
        registry.promote("churn", "0.1.0", "production")
        registry.push()

    prebuilt.copy(("ab", 2), build, tmp_path)
    return Registry(tmp_path / "alice"), tmp_path / "origin.git"


def outcomes(path, experiment_id: str, split: float, rates=(0.10, 0.14), n=20_000, seed=0, variant_column=False,
             wrong=0):
    """A CSV of binary outcomes, each key's variant as the router assigns it."""
    rng = np.random.default_rng(seed)
    keys = [f"user-{i}" for i in range(n)]
    variants = [routing.variant(experiment_id, key, split) for key in keys]
    draws = rng.random(n)
    lines = ["user_id,conversion" + (",variant" if variant_column else "")]
    for i, (key, variant) in enumerate(zip(keys, variants)):
        value = int(draws[i] < rates[variant == routing.CANDIDATE])
        shown = (routing.CONTROL if variant == routing.CANDIDATE else routing.CANDIDATE) if i < wrong else variant
        lines.append(f"{key},{value}" + (f",{shown}" if variant_column else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------------ routing
def test_routing_matches_the_documented_vectors():
    for experiment_id, key, bucket in routing.VECTORS:
        assert routing.bucket(experiment_id, key) == bucket


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(max_size=30), st.integers(1, 9999), st.integers(1, 9999))
def test_routing_is_deterministic_and_monotone_in_the_split(experiment_id, key, a, b):
    low, high = sorted((a / 100, b / 100))
    assert routing.variant(experiment_id, key, low) == routing.variant(experiment_id, key, low)
    if routing.variant(experiment_id, key, low) == routing.CANDIDATE:  # growing the split moves no key back
        assert routing.variant(experiment_id, key, high) == routing.CANDIDATE


@pytest.mark.parametrize("experiment_id", ["churn-production-20260101T000000Z", "x"])
def test_keys_spread_within_one_point_of_the_split(experiment_id):
    buckets = np.array([routing.bucket(experiment_id, f"user-{i}") for i in range(100_000)])
    for split in (1, 10, 33.33, 50, 90):
        share = (buckets < routing.threshold(split)).mean() * 100
        assert abs(share - split) < 1, (split, share)


# ------------------------------------------------------------------------------------ statistics
def _binary_summaries(rng, seeds: int, n: tuple[int, int], rates: tuple[float, float]):
    counts = [rng.binomial(size, rate, seeds) for size, rate in zip(n, rates)]
    return [[abstats.Summary(size, k / size, k * (size - k) / size / (size - 1)) for k in column]
            for size, column in zip(n, counts)]


def test_an_a_a_test_finds_no_difference_in_95_percent_of_seeds():
    rng = np.random.default_rng(7)
    control, candidate = _binary_summaries(rng, 1000, (9000, 1000), (0.1, 0.1))
    verdicts = [abstats.analyse(c, t, binary=True, split=10, min_samples=1000)["verdict"]
                for c, t in zip(control, candidate)]
    assert verdicts.count(abstats.NO_DIFFERENCE) >= 950
    rng = np.random.default_rng(8)  # continuous outcomes too
    a, b = rng.normal(5, 2, (500, 2000)), rng.normal(5, 2, (500, 2000))
    verdicts = [abstats.analyse(abstats.Summary(2000, x.mean(), x.var(ddof=1)), abstats.Summary(2000, y.mean(), y.var(ddof=1)),
                                binary=False, split=50, min_samples=1000)["verdict"] for x, y in zip(a, b)]
    assert verdicts.count(abstats.NO_DIFFERENCE) >= 475


def test_a_true_effect_is_detected_at_the_stated_power():
    """The report states the effect it detects with 80% power; a candidate better by exactly that much
    wins in about 80% of seeds (at least 76% of 1,000: three standard errors)."""
    n, rate = (9000, 1000), 0.10
    effect = 0.0
    for _ in range(30):  # the effect whose own variances make it the stated one (a fixed point)
        a, b = rate * (1 - rate), (rate + effect) * (1 - rate - effect)
        effect = abstats.detectable_effect(a / n[0] + b / n[1], (a + b) / 1000)
    rng = np.random.default_rng(11)
    control, candidate = _binary_summaries(rng, 1000, n, (rate, rate + effect))
    reports = [abstats.analyse(c, t, binary=True, split=10, min_samples=1000) for c, t in zip(control, candidate)]
    wins = sum(r["verdict"] == abstats.CANDIDATE_WINS for r in reports)
    assert wins >= 760, wins
    assert abs(np.median([r["detectable_effect"] for r in reports]) - effect) < 0.1 * effect
    lower = abstats.analyse(control[0], candidate[0], binary=True, split=10, min_samples=1000, direction="lower")
    assert lower["verdict"] in (abstats.CONTROL_WINS, abstats.NO_DIFFERENCE)


def test_the_tests_agree_with_known_values():
    scipy_stats = pytest.importorskip("scipy.stats")
    control, candidate = abstats.Summary(30, 10.0, 4.0), abstats.Summary(25, 11.2, 9.0)
    test = abstats.analyse(control, candidate, binary=False, split=50, min_samples=10)["test"]
    expected = scipy_stats.ttest_ind_from_stats(11.2, 3.0, 25, 10.0, 2.0, 30, equal_var=False)
    assert test["statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert test["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    for df in (1, 3, 10, 100, 250, 5000):
        assert abstats.t_quantile975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=1e-6)
    z = abstats.analyse(abstats.Summary(1000, 0.1, 0.09), abstats.Summary(1000, 0.13, 0.1131), binary=True,
                        split=50, min_samples=10)["test"]
    pooled = 0.115
    assert z["statistic"] == pytest.approx(0.03 / (pooled * (1 - pooled) * 2 / 1000) ** 0.5)
    assert abstats.srm(5000, 5000, 50)["mismatch"] is False
    assert abstats.srm(9000, 1000, 10)["p_value"] == 1.0


def test_a_sample_ratio_mismatch_is_detected():
    found = abstats.srm(9300, 700, 10)  # 7% where 10% were routed
    assert found["mismatch"] and found["p_value"] < 1e-20
    keep = abstats.analyse(abstats.Summary(10, 0.1, 0.09), abstats.Summary(10, 0.2, 0.1), binary=True, split=50,
                           min_samples=1000)
    assert keep["verdict"] == abstats.KEEP_RUNNING


# ------------------------------------------------------------------------------------ the lifecycle
def test_start_route_report_conclude_and_roll_back(scene, tmp_path, clock):
    alice, bare = scene
    run = Invoker(alice.root)
    clock.tick()
    started = run("ab", "start", "churn", "--candidate", "0.2.0", "--split", "50", "--key-field", "user_id",
                  "--id", "exp1", "--push", "--json")
    assert json.loads(started.output)["experiment"]["control"] == "0.1.0"
    assert git(bare, "log", "-1", "--format=%B", STAGE).count("Gitreg-Ab-Action: start") == 1
    start = alice.log("churn")[0]
    assert (start.action, start.version, start.experiment["candidate"], start.experiment["split"]) == \
        ("ab-start", "0.1.0", "0.2.0", 50.0)
    listed = json.loads(run("list", "--json").output)[0]
    assert listed["experiment"] == [{"stage": "production", "id": "exp1", "candidate": "0.2.0", "split": 50.0}]
    assert "[A/B production: v0.2.0 50%]" in run("list").output

    router = alice.router("churn")
    first = router.route("user-1")
    assert first.version == {"control": "0.1.0", "candidate": "0.2.0"}[first.variant]
    assert router.route("user-1") == first and first.model is router.route("user-1").model  # loaded once
    shown = json.loads(run("ab", "route", "churn", "user-1", "--json").output)
    assert (shown["variant"], shown["bucket"]) == (first.variant, routing.bucket("exp1", "user-1"))

    data = outcomes(tmp_path / "out.csv", "exp1", 50, variant_column=True, wrong=3)
    report = json.loads(run("ab", "report", "churn", "--outcomes", str(data), "--json").output)
    assert report["verdict"] == "candidate wins" and report["variant_disagreements"] == 3
    assert report["outcome"] == "binary" and "mSPRT" in report["sequential"]["method"]
    assert not report["srm"]["mismatch"]
    assert "**candidate wins**" in run("ab", "report", "churn", "--outcomes", str(data), "--markdown").output
    status = json.loads(run("ab", "status", "churn", "--outcomes", str(data), "--json").output)
    assert [(s["state"], s["verdict"]) for s in status] == [("running", "candidate wins")]

    clock.tick()
    run("ab", "conclude", "churn", "--promote", "--outcomes", str(data), "--push")
    assert alice.stage_versions("churn")["production"] == "0.2.0"
    message = git(alice.root, "log", "-1", "--format=%B", STAGE)
    assert "Gitreg-Ab-Verdict: candidate wins" in message and "Gitreg-Action: promote" in message
    actions = [(e.action, e.version) for e in alice.log("churn", "production")][:2]
    assert actions == [("ab-conclude", "0.2.0"), ("promote", "0.2.0")]
    assert alice.experiments() == [] and alice.verify() == []
    assert alice.router("churn").assign("user-1").version == "0.2.0"
    assert [s["state"] for s in alice.ab_status("churn")] == ["promoted"]
    traced = run("trace", "churn#production").output  # the test the version went through is in its trace
    assert "ab-start exp1: candidate v0.2.0 vs control v0.1.0, 50.0% on conversion" in traced
    assert "ab-conclude exp1" in traced and "verdict candidate wins" in traced

    clock.tick()
    alice.rollback("churn", "production", push=True)  # the exact inverse: control back, the test runs again
    assert alice.stage_versions("churn")["production"] == "0.1.0"
    assert [e.id for e in alice.experiments()] == ["exp1"]
    assert [e.action for e in alice.log("churn", "production")][:2] == ["ab-resume", "rollback"]
    clock.tick()
    alice.rollback("churn", "production", push=True)  # while a test runs, rollback ends it; the control stays
    assert alice.experiments() == [] and alice.stage_versions("churn")["production"] == "0.1.0"
    assert alice.log("churn")[0].action == "ab-stop"
    assert alice.verify() == []


def test_events_of_one_second_keep_the_order_of_the_stage_branch(scene, tmp_path):
    """Without a tick everything below happens in one second: the start sorts before the promotion its
    conclusion made (it used to sort after every stage event of that second, as in `gitreg demo`)."""
    alice, _ = scene
    alice.ab_start("churn", candidate="0.2.0", split=50, experiment_id="same-second", key_field="user_id")
    alice.ab_conclude("churn", promote=True, outcomes=outcomes(tmp_path / "o.csv", "same-second", 50))
    assert [(e.action, e.version) for e in alice.log("churn", "production")] == [
        ("ab-conclude", "0.2.0"), ("promote", "0.2.0"), ("ab-start", "0.1.0"), ("promote", "0.1.0")]
    traced = [step.action for step in alice.trace("churn#production").steps]
    assert traced[-3:] == ["ab-start", "promote", "ab-conclude"]
    unsigned = alice.audit(check=lambda oids: dict.fromkeys(oids, "unsigned")).summary()["unsigned_events"]
    assert len(unsigned) == len(set(unsigned)) and alice.log("churn")[0].commit in unsigned  # listed once


def test_stop_keeps_the_control_and_rollback_resumes(scene, tmp_path, clock):
    alice, _ = scene
    alice.ab_start("churn", candidate="0.3.0", split=10, experiment_id="exp2", min_samples=100, key_field="user_id")
    with pytest.raises(ConflictError, match="already running"):
        alice.ab_start("churn", candidate="0.2.0", split=10)
    with pytest.raises(ConflictError, match="conclude it before a promotion"):
        alice.promote("churn", "0.2.0", "production")
    data = outcomes(tmp_path / "aa.csv", "exp2", 10, rates=(0.1, 0.1), n=4000)
    with pytest.raises(GateError, match="verdict is 'no significant difference'"):
        alice.ab_conclude("churn", promote=True, outcomes=data)
    clock.tick()
    result = alice.ab_conclude("churn", stop=True, outcomes=data)
    assert result.plan.report["verdict"] == "no significant difference"
    assert alice.stage_versions("churn")["production"] == "0.1.0"
    assert alice.log("churn")[0].experiment["verdict"] == "no significant difference"
    clock.tick()
    said = Invoker(alice.root)("rollback", "churn", "production").output
    assert "A/B test exp2 runs again: traffic is split again" in said  # the user is told traffic splits again
    assert [e.id for e in alice.experiments()] == ["exp2"] and alice.verify() == []
    clock.tick()
    said = Invoker(alice.root)("rollback", "churn", "production").output
    assert "A/B test exp2 ended: the control takes all traffic" in said and alice.experiments() == []


def test_concurrent_starts_on_a_shared_remote_one_wins(scene, tmp_path):
    alice, bare = scene
    bob = Registry(clone_of(bare, tmp_path / "bob"))
    gate = tmp_path / "gate"
    gate.mkdir()
    racer = gitreg(bob.root, "ab", "start", "churn", "--candidate", "0.3.0", "--split", "20", "--push",
                   GITREG_PAUSE=f"ab:pushing@{gate}")
    deadline = time.monotonic() + 60  # bob waits at the push; alice starts and publishes first
    while not list(gate.glob("*.waiting")):
        assert racer.poll() is None and time.monotonic() < deadline, racer.stderr.read()
        time.sleep(0.02)
    alice.ab_start("churn", candidate="0.2.0", split=10, push=True)
    (gate / "go").touch()
    assert racer.wait() == 6
    assert "an experiment is already running for churn in production" in racer.stderr.read()
    assert [e.candidate for e in bob.experiments()] == ["0.2.0"]  # bob's own start was taken back
    assert bob.verify() == []
    assert [e.candidate for e in Registry.open(str(bare)).experiments()] == ["0.2.0"]


def test_bad_input_changes_nothing(scene, tmp_path):
    alice, _ = scene
    run = Invoker(alice.root)
    refused(run, "ab", "start", "churn", "--candidate", "9.9.9", "--split", "10", code=5, match="9.9.9")
    for split in ("0", "100", "150", "-5", "12.345"):
        refused(run, "ab", "start", "churn", "--candidate", "0.2.0", "--split", split, code=4, match="--split")
    refused(run, "ab", "start", "churn", "--candidate", "0.1.0", "--split", "10", code=4, match="is the control")
    refused(run, "ab", "start", "churn", "--candidate", "0.2.0", "--split", "10", "--metric", "a b", code=4,
            match="--metric")
    refused(run, "ab", "conclude", "churn", "--stop", code=5, match="no A/B test")
    alice.ab_start("churn", candidate="0.2.0", split=10, key_field="user_id", experiment_id="e")
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,conversion\na,1\n")
    refused(run, "ab", "report", "churn", "--outcomes", str(bad), code=4, match="no key column 'user_id'")
    refused(run, "ab", "conclude", "churn", "--promote", "--outcomes", str(bad), code=4, match="no key column")
    refused(run, "ab", "report", "churn", "--outcomes", str(tmp_path / "none.csv"), code=4, match="does not exist")
    bad.write_text("user_id,conversion\na,yes-ish\n")
    refused(run, "ab", "report", "churn", "--outcomes", str(bad), code=4, match="line 2")
    refused(run, "ab", "conclude", "churn", code=4, match="--promote")
    refused(run, "ab", "conclude", "churn", "--promote", code=10, match="no outcomes")
    with pytest.raises(InvalidInputError):
        alice.ab_start("churn", candidate="0.2.0", split=float("nan"))
    with pytest.raises(NotFoundError):
        alice.ab_start("churn", "staging", candidate="0.2.0", split=10)


# ------------------------------------------------------------------------------------ the server's rules
def _by_hand(alice: Registry, put: dict | None = None, remove=(), graft=None) -> str:
    """A commit made with plumbing on the local stage branch, as a user could make one."""
    g = Git(alice.root)
    tip = g.rev_parse(STAGE)
    commit = g.commit(tip, TreeEdit(remove=list(remove), graft=graft or {}, put=put or {}), "by hand\n",
                      g.identity())
    g.update_ref(f"refs/heads/{STAGE}", commit, tip, "test")
    return commit


def _push(alice: Registry):
    return subprocess.run(["git", "push", "origin", STAGE], cwd=alice.root, capture_output=True, text=True)


def test_the_hook_refuses_hand_made_experiment_commits(scene):
    """Two pushes through the real hook; the other cases through check-promotion, the judge the hook calls."""
    alice, bare = scene
    plan = alice.ab_start("churn", candidate="0.2.0", split=10, dry_run=True, experiment_id="h").plan
    good = plan.record.to_yaml()
    tip = git(alice.root, "rev-parse", STAGE).strip()

    def judged(reason: str, base: str = tip, **edit) -> None:
        head = _by_hand(alice, **edit)
        report = alice.check_promotion(base, head, "production")
        found = " ".join(report.problems)
        assert not report.passed and reason in found, (reason, found)
        git(alice.root, "update-ref", f"refs/heads/{STAGE}", base)

    _by_hand(alice, put={path_of("churn"): good.replace(b'"0.2.0"', b'"7.0.0"')})
    pushed = _push(alice)
    assert pushed.returncode != 0 and "not a registered version" in pushed.stderr, pushed.stderr
    git(alice.root, "update-ref", f"refs/heads/{STAGE}", tip)
    judged("does not read", put={path_of("churn"): b"id: [unclosed\n"})
    judged("holds its control", put={path_of("churn"): good.replace(b'control: "0.1.0"', b'control: "0.3.0"')})
    judged("not an experiment record", put={"experiments/notes.txt": b"hi\n"})
    judged("says other in production", put={path_of("churn"): good.replace(b'model: "churn"', b'model: "other"')})
    started = _by_hand(alice, put={path_of("churn"): good})  # a valid start made by hand passes
    assert _push(alice).returncode == 0
    v3 = git(alice.root, "rev-parse", "churn@v0.3.0:models/churn").strip()
    judged("conclude the test before changing the model", started, remove=["models/churn"], graft={"models/churn": v3})
    judged("never edited", started, put={path_of("churn"): good.replace(b"split: 10.0", b"split: 90.0")})
    judged("must install its candidate", started, remove=[path_of("churn"), "models/churn"], graft={"models/churn": v3})
    assert alice.verify() == []


def test_a_killed_push_is_taken_back_and_redone(scene):
    alice, bare = scene
    killed = gitreg(alice.root, "ab", "start", "churn", "--candidate", "0.2.0", "--split", "10", "--push",
                    GITREG_FAULT="ab:applied")
    assert killed.wait() == -9
    assert Registry.open(str(bare)).experiments() == []
    alice.ab_start("churn", candidate="0.2.0", split=10, push=True)
    assert [e.candidate for e in Registry.open(str(bare)).experiments()] == ["0.2.0"]


def test_start_for_review_makes_a_branch(scene):
    alice, bare = scene
    before = snapshot(alice.root)["refs"]
    result = alice.ab_start("churn", candidate="0.2.0", split=10, pr=True, experiment_id="pr1")
    assert result.branch == "ab/production/churn-pr1"
    assert git(bare, "rev-parse", f"refs/heads/{result.branch}").strip() == result.commit
    assert alice.experiments() == [] and before != snapshot(alice.root)["refs"]
    report = alice.check_promotion(STAGE, result.branch, "production")
    assert report.passed, report.to_dict()
    tip = git(alice.root, "rev-parse", STAGE).strip()  # a forge merges the pull request, with its own message
    tree = git(alice.root, "rev-parse", f"{result.commit}^{{tree}}").strip()
    merge = git(alice.root, "commit-tree", tree, "-p", tip, "-p", result.commit, "-m", "Merge pull request #7").strip()
    git(alice.root, "update-ref", f"refs/heads/{STAGE}", merge, tip)
    assert [e.id for e in alice.experiments()] == ["pr1"] and alice.verify() == []
    event = json.loads(Invoker(alice.root)("log", "churn", "--json").output)[0]
    assert (event["action"], event["commit"], event["experiment"]["id"]) == ("ab-start", merge, "pr1")


def test_ab_read_commands_keep_dvc_numpy_and_sklearn_off_their_path(scene, tmp_path):
    alice, _ = scene
    alice.ab_start("churn", candidate="0.2.0", split=30, experiment_id="light", key_field="user_id")
    data = outcomes(tmp_path / "o.csv", "light", 30, n=3000)
    commands = [["ab", "route", "churn", "u1"], ["ab", "status", "churn", "--outcomes", str(data)],
                ["ab", "report", "churn", "--outcomes", str(data), "--markdown"], ["list"], ["log"]]
    assert imported_by(alice.root, commands, (*HEAVY, "scipy")) == []
