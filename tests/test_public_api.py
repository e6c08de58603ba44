"""The declared public API: what ``gitreg`` exports, annotated returns, and the one exit-code table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import gitreg
from gitreg import ExitCode, GitregError

README = Path(gitreg.__file__).parent.parent / "README.md"


def test_every_exported_name_resolves():
    for name in gitreg.__all__:
        assert getattr(gitreg, name) is not None, name
    assert gitreg.Registry.__module__ == "gitreg.registry"


def test_every_public_method_has_a_return_annotation():
    missing = []
    for name in gitreg.__all__:
        exported = getattr(gitreg, name)
        if not inspect.isclass(exported) or issubclass(exported, BaseException):
            continue
        for attr, member in vars(exported).items():
            function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if attr.startswith("_") or not inspect.isfunction(function):
                continue
            if inspect.signature(function).return_annotation is inspect.Signature.empty:
                missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_every_error_is_exported_and_names_a_code_of_the_table():
    errors = [value for value in vars(gitreg.errors).values()
              if inspect.isclass(value) and issubclass(value, GitregError)]
    for error in errors:
        assert error.__name__ in gitreg.__all__, error
        assert isinstance(error.exit_code, ExitCode), error


def test_the_readme_documents_exactly_the_exit_code_table():
    rows = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", README.read_text(), re.MULTILINE)
    assert {int(code): name for code, name in rows} == {code.value: code.name for code in ExitCode if code}
