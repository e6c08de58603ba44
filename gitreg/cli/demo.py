"""``gitreg demo``: the guided tour, run through the real CLI and Python API in a fresh folder."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import click

from gitreg.errors import InvalidInputError
from gitreg.io.git import Git

GATES = """\
schema: 1
stages:
  - name: dev
  - name: staging
  - name: production
    gates:
      requires: staging            # only what staging has seen reaches production
      metrics:
        accuracy: ">= 0.93"
      no_regression: [accuracy]
"""
VERSIONS = (("0.1.0", 0.003), ("0.2.0", 0.1))  # (version, regularisation C)


def run(directory: Path | None, cli: click.Command, echo: Callable[[str], None] = print) -> Path:
    """The tour, each step run through ``cli`` (the root ``gitreg`` command) as a user would type it."""
    root = Path(directory or tempfile.mkdtemp(prefix="gitreg-demo-")).resolve()
    if root.exists() and any(root.iterdir()):
        raise InvalidInputError(f"{root} is not empty: give the demo a new or empty folder")
    step = _Stepper(root, cli, echo)
    step.cli("init", str(root))
    step.configure_gates()
    x_test, y_test = step.train_and_register()
    step.cli("list")
    step.cli("show", "cancer@0.1.0")
    step.cli("history", "cancer")
    step.predict(x_test[:1], y_test[0])
    step.cli("promote", "cancer", "0.1.0", "staging")
    step.cli("promote", "cancer", "0.1.0", "production")
    step.cli("promote", "cancer", "0.2.0", "production")  # refused: not in staging yet
    step.cli("promote", "cancer", "0.2.0", "staging")
    step.cli("promote", "cancer", "0.2.0", "production")
    step.cli("rollback", "cancer", "production")
    step.ab_test()
    step.cli("list")
    step.cli("log")
    step.cli("trace", "cancer#production")  # code, data, gates, who and when: the trust chain from Git alone
    echo(f"\nThe registry is in {root}: try `gitreg -C {root} log --json` or `git -C {root} log --graph --all`.")
    return root


class _Stepper:
    def __init__(self, root: Path, cli: click.Command, echo: Callable[[str], None]):
        self.root, self.command, self.echo = root, cli, echo

    def cli(self, *args: str) -> None:
        self.echo(f"\n$ gitreg {shlex.join(args)}")
        argv = list(args) if args[0] == "init" else ["-C", str(self.root), *args]
        cwd = os.getcwd()
        try:
            self.command.main(argv, prog_name="gitreg", standalone_mode=False)
        except SystemExit:  # the CLI already printed the error, as it would in a shell
            pass
        finally:
            os.chdir(cwd)  # -C changed it
            sys.stdout.flush()  # keep our lines and the CLI's errors in order when piped

    def configure_gates(self) -> None:
        self.echo("\n$ cat > .gitreg.yaml   # production: requires staging, accuracy >= 0.93, no regression")
        (self.root / ".gitreg.yaml").write_text(GATES)
        self.echo("$ git commit -am 'Gate production'")
        Git(self.root).commit_all("Gate production")

    def train_and_register(self):
        import skops.io
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x, y = load_breast_cancer(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
        work = Path(tempfile.mkdtemp(prefix="gitreg-demo-work-"))
        for version, c in VERSIONS:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x_train, y_train)
            path = work / f"cancer-C{c}.skops"
            skops.io.dump(model, path)  # loads trusting only the types it holds, where a pickle runs anything
            self.echo(f"\n# trained logistic regression with C={c}: test accuracy {model.score(x_test, y_test):.4f}")
            self.cli("register", "cancer", str(path), "--metric", f"accuracy={model.score(x_test, y_test):.4f}",
                     "--param", f"C={c}", "--label", "tabular", "--description", f"logistic regression, C={c}",
                     *(["--bump", "auto"] if version != "0.1.0" else []))
        return x_test, y_test

    def ab_test(self) -> None:
        """v0.2.0 against v0.1.0 on 20% of users, on simulated conversions (12% against 10%)."""
        import random

        from gitreg.domain import routing

        self.cli("ab", "start", "cancer", "--candidate", "0.2.0", "--split", "20", "--key-field", "user_id",
                 "--id", "cancer-demo")
        self.cli("ab", "route", "cancer", "user-7")
        outcomes = self.root.parent / f"{self.root.name}-outcomes.csv"
        rng = random.Random(13)
        rows = ["user_id,conversion"]
        for i in range(20_000):
            rate = 0.12 if routing.variant("cancer-demo", f"user-{i}", 20) == routing.CANDIDATE else 0.10
            rows.append(f"user-{i},{int(rng.random() < rate)}")
        outcomes.write_text("\n".join(rows) + "\n")
        self.echo(f"\n# simulated outcomes of 20,000 users (candidate 12% conversion, control 10%): {outcomes}")
        self.cli("ab", "report", "cancer", "--outcomes", str(outcomes))
        self.cli("ab", "conclude", "cancer", "--promote", "--outcomes", str(outcomes))
        self.cli("ab", "status")

    def predict(self, row, truth) -> None:
        from gitreg import Registry

        registry = Registry(self.root)
        self.echo("\n>>> Registry(path).load('cancer', version=...).predict(first test row)")
        for version, _ in VERSIONS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = registry.load("cancer", version=version)
            label = int(model.predict(row)[0])
            proba = float(model.predict_proba(row)[0][label])
            self.echo(f"cancer@v{version}: predicts class {label} (p={proba:.3f}); true class {int(truth)}")
