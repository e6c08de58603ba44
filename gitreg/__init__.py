"""gitreg: a Git-native model registry on DVC.

>>> from gitreg import Registry
>>> registry = Registry(".")
>>> registry.register("churn", model, metrics={"accuracy": 0.91})
"""

from gitreg.errors import GitregError
from gitreg.registry import Registry

__all__ = ["GitregError", "Registry"]
