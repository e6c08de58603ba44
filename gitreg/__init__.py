"""gitreg: a Git-native model registry on DVC.

>>> from gitreg import Registry
>>> registry = Registry(".")
>>> registry.register("churn", model, metrics={"accuracy": 0.91})
"""

from gitreg.errors import GitregError

__all__ = ["GitregError", "Registry"]


def __getattr__(name: str):
    # Imported on first use so that `gitreg --help` and the CLI's start-up stay fast.
    if name == "Registry":
        from gitreg.registry import Registry

        return Registry
    raise AttributeError(f"module 'gitreg' has no attribute {name!r}")
