"""``Registry.predictor``: a loaded model whose ``predict`` first checks its input against the signature
recorded at registration, so missing or extra columns or wrong dtypes are an error, not a silent
wrong prediction."""

from __future__ import annotations

from typing import Any

from gitreg.domain import signature
from gitreg.domain.version import ModelVersion


class Predictor:
    def __init__(self, model: Any, version: ModelVersion):
        self.model = model
        self.version = version
        self.signature = version.card.signature

    @property
    def input_example(self) -> dict[str, Any] | None:
        """``{"columns": [...], "rows": [[...], ...]}`` as registered, or None."""
        return (self.signature or {}).get("example")

    def check(self, data: Any) -> None:
        signature.check_input(self.signature, data, self.version.tag)

    def predict(self, data: Any) -> Any:
        self.check(data)
        return self.model.predict(data)

    def predict_proba(self, data: Any) -> Any:
        self.check(data)
        return self.model.predict_proba(data)

    def __repr__(self) -> str:
        return f"Predictor({self.version.tag})"
