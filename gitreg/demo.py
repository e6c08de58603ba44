"""``gitreg demo``: the guided tour, run through the real CLI and Python API in a fresh folder."""

from __future__ import annotations

import shlex
import tempfile
import warnings
from pathlib import Path
from typing import Callable


def run(directory: Path | None, echo: Callable[[str], None] = print) -> Path:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    root = Path(directory or tempfile.mkdtemp(prefix="gitreg-demo-")).resolve()
    if root.exists() and any(root.iterdir()):
        from gitreg.errors import InvalidInputError

        raise InvalidInputError(f"{root} is not empty: give the demo a new or empty folder")
    step = _Stepper(root, echo)
    step.cli("init", str(root))

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    for c, bump in ((0.05, None), (1.0, "auto")):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x_train, y_train)
        accuracy = model.score(x_test, y_test)
        path = root.parent / f"{root.name}-work" / f"cancer-C{c}.joblib"
        path.parent.mkdir(exist_ok=True)
        import joblib

        joblib.dump(model, path)
        args = ["register", "cancer", str(path), "--metric", f"accuracy={accuracy:.4f}",
                "--param", f"C={c}", "--label", "tabular", "--description", f"logistic regression, C={c}"]
        step.cli(*(args + (["--bump", bump] if bump else [])))
    step.cli("list")
    step.cli("show", "cancer@0.1.0")
    step.cli("history", "cancer")
    step.predict(x_test[:1], y_test[0])
    echo(f"\nThe registry is in {root}: try `gitreg -C {root} list`.")
    return root


class _Stepper:
    def __init__(self, root: Path, echo: Callable[[str], None]):
        self.root, self.echo = root, echo

    def cli(self, *args: str) -> None:
        from gitreg.cli import cli

        self.echo(f"\n$ gitreg {shlex.join(args)}")
        cli.main(["-C", str(self.root), *args] if args[0] != "init" else list(args),
                 prog_name="gitreg", standalone_mode=False)

    def predict(self, row, truth) -> None:
        from gitreg import Registry

        registry = Registry(self.root)
        self.echo("\n>>> Registry(path).load('cancer', version=...).predict(first test row)")
        for version in ("0.1.0", "0.2.0"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = registry.load("cancer", version=version)
            label = int(model.predict(row)[0])
            proba = float(model.predict_proba(row)[0][label])
            self.echo(f"cancer@v{version}: predicts class {label} (p={proba:.3f}); true class {int(truth)}")
