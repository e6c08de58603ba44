"""Issue 14, parts 1-3: ``gitreg ui`` (the pages over HTTP) and ``gitreg report`` (the same pages as static
files), loaded in a real headless Chromium (Debian's ``chromium``, driven by Playwright through
``executable_path``: no browser download), with screenshots kept in ``artifacts/screenshots/``.

One demo-like scene (three models, stage history, an alias, annotations, a deprecation, READMEs, hostile
text) is built once per worker; one browser visits every page of the server and of the static report."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.web import pages, render, server, site
from tests.conftest import Invoker, git

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
HOSTILE = "<script>window.__pwned = 1; alert('x')</script>"
README = """# Churn model

Predicts which customers **leave** next month.

| stage | owner |
|---|---|
| production | ML platform |

```python
registry.load("churn#production")
```

[runbook](https://wiki.example.com/churn) · [bad](javascript:window.__pwned=1)
"""
EVIL_README = f"# Evil\n\n{HOSTILE}\n\n<img src=x onerror=\"window.__pwned=1\">\n"


def _build(folder: Path, new_registry, artifact: Path, clock) -> None:
    reg = new_registry(folder / "reg")
    metrics = [(0.81, 0.74, 0.52), (0.86, 0.79, 0.41), (0.84, 0.80, 0.39), (0.9, 0.85, 0.31)]
    for n, (accuracy, f1, loss) in enumerate(metrics):
        clock.tick(3600)
        artifact.write_bytes(f"churn{n}".encode() * 50)
        reg.register("churn", artifact, metrics={"accuracy": accuracy, "f1": f1, "loss": loss},
                     params={"C": 0.1 * (n + 1), "solver": "lbfgs"}, labels=["tabular"],
                     description="Customer churn classifier")
    for n in range(2):
        clock.tick(3600)
        artifact.write_bytes(f"fraud{n}".encode() * 50)
        reg.register("fraud", artifact, metrics={"auc": 0.7 + n / 10}, params={"drift": "NaN"},
                     base="churn@0.2.0",
                     description="Card fraud scorer, fine-tuned from churn")
    clock.tick(3600)
    artifact.write_bytes(b"evil" * 50)
    reg.register("evil", artifact, metrics={"accuracy": 0.5}, labels=["x-1"], description=HOSTILE)
    for version, stage in [("0.1.0", "staging"), ("0.1.0", "production"), ("0.2.0", "production"),
                           ("0.3.0", "production"), ("0.4.0", "dev")]:
        clock.tick(1800)
        reg.promote("churn", version, stage)
    clock.tick(1800)
    reg.rollback("churn", "production")
    clock.tick(600)
    reg.promote("fraud", "0.2.0", "staging")
    clock.tick(600)
    reg.alias_set("churn", "champion", "0.2.0")
    reg.annotate("churn@0.2.0", labels=["validated-site-b"], note="FDA submission 2026-14",
                 link="https://jira.example.com/FDA-14")
    reg.annotate("evil@0.1.0", note=HOSTILE)
    clock.tick(600)
    reg.deprecate("churn@0.3.0", "trained on leaked labels")
    for name, text in (("churn", README), ("evil", EVIL_README)):
        (reg.root / "models" / name / "README.md").write_text(text)
    git(reg.root, "add", "models")
    git(reg.root, "commit", "-q", "-m", "Model pages")
    _hand_made_nan_tag(reg.root)


def _hand_made_nan_tag(root: Path) -> None:
    """A version tag made by hand whose card index holds NaN: not a usable version, named as skipped."""
    message = git(root, "for-each-ref", "--format=%(contents)", "refs/tags/evil@v0.1.0")
    forged = message.replace('"version":"0.1.0"', '"version":"0.2.0"').replace('"accuracy":0.5', '"accuracy":NaN')
    forged = forged.replace("Register evil v0.1.0", "Register evil v0.2.0")
    commit = git(root, "rev-parse", "evil@v0.1.0^{commit}").strip()
    subprocess.run(["git", "tag", "-a", "evil@v0.2.0", commit, "-F", "-"], cwd=root, input=forged, text=True,
                   check=True, capture_output=True)


@pytest.fixture
def scene(prebuilt, new_registry, tmp_path, clock) -> Registry:
    artifact = tmp_path / "weights.bin"
    prebuilt.copy(("ui-scene",), lambda folder: _build(folder, new_registry, artifact, clock), tmp_path)
    return Registry(tmp_path / "reg")


@pytest.fixture
def served(scene, monkeypatch):
    monkeypatch.setattr(server, "RECHECK", 0.0)
    httpd = server.serve(scene, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", scene, httpd.RequestHandlerClass.site
    httpd.shutdown()
    httpd.server_close()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# ------------------------------------------------------------------------------------ the real browser
PAGES = [  # (name, server path, static file, texts the page must show)
    ("models", "/", "index.html", ["churn", "fraud", "v0.4.0", "production v0.2.0", "@champion v0.2.0", "accuracy"]),
    ("model", "/model/churn", "model/churn/index.html",
     ["Metrics over versions", "Stages over time", "Predicts which customers", "runbook", "deprecated"]),
    ("version", "/model/churn/v/0.2.0", "model/churn/v/0.2.0.html",
     ["churn@v0.2.0", "FDA submission 2026-14", "validated-site-b", "@champion", "production", "Signature", "Environment"]),
    ("version-deprecated", "/model/churn/v/0.3.0", "model/churn/v/0.3.0.html",
     ["Deprecated: trained on leaked labels"]),
    ("version-lineage", "/model/fraud/v/0.2.0", "model/fraud/v/0.2.0.html", ["base model", "churn@v0.2.0", "NaN"]),
    ("diff", "/diff?a=churn%400.1.0&b=churn%400.2.0", "model/churn/diff/0.1.0..0.2.0.html",
     ["churn@v0.1.0 vs churn@v0.2.0", "+0.05", "Cards side by side"]),
    ("log", "/log", "log.html", ["Audit log", "rollback", "deprecate", "alias-set", "trained on leaked labels"]),
    ("evil", "/model/evil", "model/evil/index.html", [HOSTILE[:20], "skipped tag evil@v0.2.0"]),
    ("evil-version", "/model/evil/v/0.1.0", "model/evil/v/0.1.0.html", [HOSTILE]),
]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


class Visit:
    """One browser page that records console errors, uncaught exceptions and dialogs."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))

    def load(self, url: str, texts: list[str], shot: str) -> str:
        answer = self.page.goto(url)
        assert answer is None or answer.ok, f"{url}: HTTP {answer.status}"
        if self.page.query_selector(".chart[data-spec]"):
            self.page.wait_for_selector(".chart[data-drawn] svg", timeout=10_000)
        body = self.page.inner_text("body")
        for text in texts:
            assert text in body, f"{url} does not show {text!r}"
        assert self.page.evaluate("window.__pwned") is None, f"{url} ran a script from the repository"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
        assert not self.problems, f"{url}: {self.problems}"
        return body


def test_every_page_in_a_real_browser_served_and_static(served, browser, tmp_path):
    base, registry, _ = served
    visit = Visit(browser)
    for name, path, _, texts in PAGES:
        visit.load(base + path, texts, f"ui-{name}")
    charts = visit.page.goto(base + "/model/churn") and visit.page.wait_for_selector("#trend-chart[data-drawn] svg")
    assert charts and visit.page.query_selector_all("#timeline-chart svg .mark-rect path")
    visit.page.fill("input[name=a]", "churn@0.1.0")  # the diff form takes any two versions
    visit.page.fill("input[name=b]", "churn@0.4.0")
    visit.page.click(".diff-form button")
    assert "churn@v0.1.0 vs churn@v0.4.0" in visit.page.inner_text("h1")
    visit.page.goto(base + "/log")
    visit.page.select_option("select[name=action]", "promote")
    visit.page.click("#log-filters button")
    rows = visit.page.query_selector_all("#log tbody tr")
    assert len(rows) == 6 and all(r.get_attribute("data-action") == "promote" for r in rows)
    assert not visit.problems, visit.problems

    report = site.write(registry, tmp_path / "site")
    for name, _, file, texts in PAGES:
        visit.load((report.output / file).as_uri(), texts, f"report-{name}")
    visit.page.goto((report.output / "model" / "churn" / "index.html").as_uri())
    visit.page.click("text=diff v0.3.0")  # relative links work from file://
    assert "churn@v0.3.0 vs churn@v0.4.0" in visit.page.inner_text("h1")
    visit.page.goto((report.output / "log.html").as_uri())
    visit.page.select_option("select[name=model]", "fraud")
    visible = visit.page.query_selector_all("#log tbody tr:not([hidden])")
    assert len(visible) == 3 and visit.page.inner_text("#log-count") == "3 events"
    assert not visit.problems, visit.problems
    visit.page.close()


# ------------------------------------------------------------------------------------ the server
def test_server_answers_errors_as_pages_and_follows_new_refs(served, artifact):
    base, registry, served_site = served
    assert fetch(base + "/model/nope")[0] == 404 and "no model named &#39;nope&#39;" in fetch(base + "/model/nope")[1]
    assert fetch(base + "/model/churn/v/9.9.9")[0] == 404
    assert fetch(base + "/model/churn/v/not-a-version")[0] == 404
    assert fetch(base + "/log?since=yesterday")[0] == 400
    assert fetch(base + "/?page=7")[0] == 404 and fetch(base + "/?page=x")[0] == 400
    assert fetch(base + "/diff?a=churn@0.1.0")[0] == 400
    assert fetch(base + "/static/../server.py")[0] == 404 and fetch(base + "/static/%2e%2e/server.py")[0] == 404
    assert fetch(base + "/static/vendor/vega-lite.min.js")[0] == 200
    request = urllib.request.Request(base + "/", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 501  # read-only: nothing but GET and HEAD
    status, models = fetch(base + "/")
    assert status == 200 and "skipped tag evil@v0.2.0" in models and "spam" not in models
    artifact.write_bytes(b"spam" * 10)
    registry.register("spam", artifact, metrics={"accuracy": 0.42})
    fetch(base + "/")  # the refs moved: the registry is read again while the pages come from the last read
    served_site.settle(timeout=30)
    assert "spam" in fetch(base + "/")[1]


def test_ui_reads_a_remote_registry_without_a_clone(scene, tmp_path):
    bare = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--mirror", str(scene.root), str(bare))
    httpd = server.serve(Registry.open(str(bare)), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        status, page = fetch(f"http://127.0.0.1:{httpd.server_address[1]}/model/churn")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert status == 200 and "production v0.2.0" in page and "Predicts which customers" in page


def test_hostile_repository_text_is_escaped_everywhere(scene):
    state = pages.State(scene)
    from gitreg.web.links import ServerLinks

    html = "".join([
        render.page("models.html", pages.models_page(state), ServerLinks()),
        render.page("model.html", pages.model_page(state, "evil"), ServerLinks()),
        render.page("version.html", pages.version_page(state, "evil", "0.1.0"), ServerLinks()),
        render.page("log.html", {**pages.log_page(state), "log_url": ServerLinks().log}, ServerLinks()),
    ])
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert 'href="javascript:' not in render.markdown(README)
    assert "<table>" in render.markdown(README)  # Markdown still renders


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>&\"'/=:abc scriptimgonerrorjavascript()[]!")), max_size=60))
def test_markdown_never_lets_markup_through(text):
    html = str(render.markdown(text))
    assert "<script" not in html and "<img src=x" not in html and 'href="javascript:' not in html


def test_values_are_text_without_surprises():
    assert [render.value_text(v) for v in (math.nan, math.inf, -math.inf, None, True, 0.123456, [1, "a"])] == \
        ["NaN", "∞", "-∞", "—", "true", "0.1235", "1, a"]
    assert pages.number(math.nan) is None and pages.number("0.5") is None and pages.number(True) is None
    with pytest.raises(Exception, match="no page 3"):
        pages.Pager.of([1, 2], 3, 2)
    from gitreg.web.links import ServerLinks, StaticLinks

    assert StaticLinks(2).version("m", "1.0.0+b.1") == "../../model/m/v/1.0.0+b.1.html"  # as the file is named
    assert ServerLinks().version("m", "1.0.0+b.1") == "/model/m/v/1.0.0%2Bb.1"  # '+' in a query would be a space


# ------------------------------------------------------------------------------------ the commands
def test_ui_refuses_a_non_registry_and_a_port_in_use(scene, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")
    result = Invoker(plain)("ui", "--port", "0", expect=3)
    assert result.output.count("\n") == 1 and "not a gitreg registry" in result.output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = Invoker(scene.root)("ui", "--port", str(port), expect=19)
    assert result.output == f"error: port {port} on 127.0.0.1 is in use: give another with --port N " \
                            "(or stop what listens there)\n"


def test_report_writes_a_site_and_refuses_a_folder_it_did_not_write(scene, tmp_path):
    run = Invoker(scene.root)
    out = json.loads(run("report", "-o", str(tmp_path / "site"), "--json").output)
    files = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("*") if p.is_file()}
    assert {"index.html", "log.html", "model/churn/index.html", "model/churn/v/0.1.0.html", ".nojekyll",
            "model/churn/diff/0.1.0..0.2.0.html", "static/app.js", "static/vendor/vega.min.js"} <= files
    assert out["models"] == 3 and out["versions"] == 7 and out["pages"] == 1 + 3 + 7 + 4 + 1
    assert not any("http" in line and "<script src=\"http" in line
                   for line in (tmp_path / "site" / "model" / "churn" / "index.html").read_text().splitlines())
    run("report", "-o", str(tmp_path / "site"))  # an earlier report is replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = run("report", "-o", str(tmp_path / "mine"), expect=4)
    assert "is not empty and holds no earlier report" in refused.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert Invoker(tmp_path)("report", "-o", str(tmp_path / "x"), expect=3).output.startswith("error: ")
