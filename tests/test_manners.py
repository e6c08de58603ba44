"""A CLI with good manners (issue 14, part 5): byte-level bars on a terminal and none when piped, -q/-v,
NO_COLOR, DVC's log lines captured, one byte formatter, shell completion through click's protocol, and
--help in sections. Real pseudo-terminals (stdlib ``pty``), a real hooked remote, a real DVC store."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.cli import cli
from gitreg.cli.help_sections import OTHER, SECTIONS, section_of
from gitreg.domain.sizes import human_bytes
from tests.conftest import Invoker, hooked_scene

ESCAPE = re.compile(r"\x1b\[")


@pytest.fixture
def shared(tmp_path, new_registry, clock, artifact, prebuilt):
    """m v0.1.0 and v0.2.0 pushed (bytes in the store), m 0.1.0 in staging, m@champion; alice, and bob's
    clone with an empty DVC cache."""
    prebuilt.copy(("hooked", 2), hooked_scene(new_registry, artifact, [("m", 0), ("m", 1)]), tmp_path)
    alice = Registry(tmp_path / "alice")
    alice.promote("m", "0.1.0", "staging")
    alice.alias_set("m", "champion", "0.1.0")
    subprocess.run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(tmp_path / "bob")], check=True)
    return alice, tmp_path / "bob"


def on_terminal(args: list[str], cwd: Path, env: dict | None = None, size=(100, 30)) -> tuple[int, str]:
    """``python -m gitreg ARGS`` with stderr (and stdout) on a pseudo-terminal of ``size`` (columns, rows;
    None: one that does not know its size); (exit code, what it showed)."""
    master, slave = pty.openpty()
    if size:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "gitreg", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "100", **(env or {})})
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    code = proc.wait(timeout=60)
    reader.join(timeout=10)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


def piped(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gitreg", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


# ------------------------------------------------------------------------------------ progress
def test_a_download_and_a_copy_show_byte_bars_on_a_terminal_and_nothing_when_piped(shared, tmp_path):
    _, bob = shared
    code, shown = on_terminal(["get", "m@0.1.0", "-o", str(tmp_path / "a.bin")], bob)
    assert code == 0, shown
    assert "Downloading the artifact from the DVC remote" in shown and "Writing a.bin" in shown
    assert "100%" in shown and "200/200" in shown and "B/s" in shown  # bytes counted, SI units
    assert (tmp_path / "a.bin").read_bytes() == b"m0" * 100

    sizeless_code, sizeless = on_terminal(["get", "m@0.2.0", "-o", str(tmp_path / "s.bin")], bob, size=None)
    assert sizeless_code == 0 and "Writing s.bin: 100%" in sizeless  # a terminal of unknown size: 80 columns

    result = piped(["get", "m@0.1.0", "-o", str(tmp_path / "b.bin")], bob)
    assert result.returncode == 0, result.stderr
    assert "%|" not in result.stderr and "\r" not in result.stderr and not ESCAPE.search(result.stderr)
    assert result.stdout.strip().endswith("b.bin") and (tmp_path / "b.bin").read_bytes() == b"m0" * 100


def test_bars_only_on_a_terminal_and_not_with_quiet(monkeypatch):
    from gitreg.cli import manners
    from gitreg.io import progress

    try:
        for terminal, verbosity, drawn in ((True, 0, True), (True, 1, True), (True, -1, False), (False, 0, False)):
            monkeypatch.setattr(manners, "_is_terminal", lambda stream, answer=terminal: answer)
            manners.setup(verbosity)
            assert (progress._renderer is not None) is drawn
    finally:
        manners.setup(0)
        progress.set_renderer(None)


def test_bars_count_the_bytes_gitreg_copies_and_dvc_moves(shared, tmp_path, monkeypatch):
    from gitreg.io import progress

    class Bar:
        def __init__(self, what, total):
            self.what, self.total, self.moved, self.updates = what, total, 0, 0
            bars.append(self)

        def update(self, n):
            self.moved += n
            self.updates += 1

        def close(self):
            pass

    bars: list[Bar] = []
    progress.set_renderer(Bar)
    monkeypatch.setattr(progress, "CHUNK", 32)  # a 200-byte artifact then moves in 7 chunks
    try:
        Registry(shared[1]).get("m@0.2.0", tmp_path / "c.bin")
    finally:
        progress.set_renderer(None)
    assert [(b.what, b.total, b.moved) for b in bars] == [
        ("Downloading the artifact from the DVC remote", 200, 200), ("Writing c.bin", 200, 200)]
    assert bars[1].updates == 7  # gitreg's own copy reports chunk by chunk


# ------------------------------------------------------------------------------------ -q, -v, DVC's lines
def test_verbose_shows_dvc_lines_as_gitreg_lines_and_the_default_and_quiet_do_not(shared, tmp_path):
    _, bob = shared
    run = Invoker(bob)
    verbose = run("-v", "get", "m@0.1.0", "-o", str(tmp_path / "v.bin"))
    assert any(line.startswith("dvc: ") for line in verbose.stderr.splitlines()), verbose.stderr
    plain = run("get", "m@0.2.0", "-o", str(tmp_path / "p.bin"))
    assert plain.stderr == ""
    quiet = run("-q", "get", "m@0.2.0", "-o", str(tmp_path / "q.bin"))
    assert quiet.stderr == "" and quiet.stdout.strip().endswith("q.bin")
    assert "not both" in run("-q", "-v", "list", expect=2).output


def test_what_dvc_logs_when_bytes_are_missing_becomes_one_gitreg_error(shared, tmp_path):
    _, bob = shared
    empty = tmp_path / "empty-store"  # bob's DVC remote, here only: the scene's store is shared with others
    empty.mkdir()
    (bob / ".dvc" / "config.local").write_text(f'[\'remote "storage"\']\n    url = {empty}\n')
    result = Invoker(bob)("get", "m@0.1.0", "-o", str(tmp_path / "x.bin"), expect=9)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: artifact"), result.stderr
    assert not any(word in result.stderr for word in ("ERROR:", "WARNING:", "Traceback"))


def test_no_color_and_pipes_get_no_escape_codes_and_a_terminal_gets_red_errors(shared):
    alice, _ = shared
    code, coloured = on_terminal(["show", "nosuchmodel"], alice.root)
    assert code == 5 and "\x1b[31merror:\x1b[0m" in coloured
    code, plain = on_terminal(["show", "nosuchmodel"], alice.root, {"NO_COLOR": "1"})
    assert code == 5 and "error: no model" in plain and not ESCAPE.search(plain)
    result = piped(["show", "nosuchmodel"], alice.root)
    assert result.returncode == 5 and result.stderr.startswith("error: ") and not ESCAPE.search(result.stderr)


@given(st.integers(min_value=0, max_value=10**21))
def test_one_byte_formatter_uses_si_units_and_never_shows_a_thousand_of_a_unit(size):
    text = human_bytes(size)
    number, unit = text.split(" ")
    assert unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    assert float(number) < 1000 or unit == "EB"
    scale = 1000 ** ("B", "kB", "MB", "GB", "TB", "PB", "EB").index(unit)
    assert abs(float(number) * scale - size) <= 0.05 * scale + 0.5


def test_byte_formatter_examples():
    assert [human_bytes(n) for n in (0, 999, 1000, 999_949, 999_950, 7_856_000, 1_500_000_000)] == [
        "0 B", "999 B", "1.0 kB", "999.9 kB", "1.0 MB", "7.9 MB", "1.5 GB"]


# ------------------------------------------------------------------------------------ completion
def complete(words: str, cwd: Path, shell: str = "bash") -> list[str]:
    """What click's completion protocol answers for the command line ``words`` (cursor at its end)."""
    parts = words.split(" ")
    env = {"_GITREG_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, [], prog_name="gitreg", env=env)
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


def test_completion_of_commands_models_versions_stages_and_aliases(shared, tmp_path):
    alice, _ = shared
    root = alice.root
    assert complete("gitreg pro", root) == ["promote"]
    assert "completion" in complete("gitreg com", root)
    assert complete("gitreg show ", root) == ["m"]
    assert complete("gitreg show m@", root) == ["m@0.2.0", "m@0.1.0", "m@latest", "m@champion"]
    assert complete("gitreg get m@0.1", root) == ["m@0.1.0"]
    assert complete("gitreg show m#", root) == ["m#staging"]
    assert complete("gitreg promote ", root) == ["m"]
    assert complete("gitreg promote m ", root) == ["0.2.0", "0.1.0"]
    assert complete("gitreg promote m 0.2.0 st", root) == ["staging"]
    assert complete("gitreg rollback m ", root) == ["staging"]
    assert complete("gitreg alias rm m ", root) == ["champion"]
    assert complete("gitreg alias set m champion ", root) == ["0.2.0", "0.1.0"]
    assert complete("gitreg log --stage s", root) == ["staging"]
    assert complete("gitreg completion ", root) == ["bash", "zsh", "fish"]
    assert complete(f"gitreg -C {root} history ", tmp_path) == ["m"]
    plain = tmp_path / "plain"
    plain.mkdir()
    assert complete("gitreg show ", plain) == []  # outside a registry: nothing, and no error


def test_completion_scripts_and_the_real_protocol(shared):
    alice, _ = shared
    run = Invoker(alice.root)
    assert "_GITREG_COMPLETE=bash_complete" in run("completion", "bash").output
    assert "compdef _gitreg_completion gitreg" in run("completion", "zsh").output
    assert "complete --no-files --command gitreg" in run("completion", "fish").output
    assert run("completion", "tcsh", expect=2)
    answer = subprocess.run([sys.executable, "-m", "gitreg"], cwd=alice.root, capture_output=True, text=True,
                            env={**os.environ, "_GITREG_COMPLETE": "zsh_complete", "COMP_WORDS": "gitreg show m@c",
                                 "COMP_CWORD": "2"}, timeout=60)
    assert answer.returncode == 0 and "m@champion" in answer.stdout and "dvc" not in answer.stderr


# ------------------------------------------------------------------------------------ --help
def test_every_command_is_in_a_section_and_help_lists_them_in_order():
    missing = [name for name in cli.commands if section_of(name) == OTHER]
    assert not missing, f"add {missing} to gitreg.cli.help_sections.SECTIONS"
    for planned in ("ab", "ui", "report", "trace", "audit", "watch", "completion"):
        assert section_of(planned) != OTHER
    assert [section_of(n) for n in ("ab", "ui", "report", "trace", "audit")] == [
        "Stages", "Inspection", "Inspection", "Inspection", "Inspection"]
    text = CliRunner().invoke(cli, ["--help"]).output
    headings = [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings[-5:] == list(SECTIONS)
    assert text.index("\n  register ") < text.index("\n  promote ") < text.index("\n  push ") \
        < text.index("\n  list ") < text.index("\n  watch ")
    described = re.findall(r"^  (\S+)\s{2,}", text[text.index("Versions:"):], re.M)
    assert sorted(described) == sorted(name for name, c in cli.commands.items() if not c.hidden)


def test_help_stays_instant_without_dvc_tqdm_or_the_watch_services():
    code = ("import sys; from click.testing import CliRunner; from gitreg.cli import cli; "
            "CliRunner().invoke(cli, ['--help']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dvc', 'tqdm', 'sklearn', 'yaml') "
            "or m in ('gitreg.services.watch', 'gitreg.io.dvc')))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"


def test_click_is_the_completion_machinery():
    assert isinstance(cli, click.Group) and cli.commands["completion"].params[0].type.choices == ("bash", "zsh",
                                                                                                 "fish")
