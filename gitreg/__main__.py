"""``python -m gitreg``: the same as the ``gitreg`` command."""

from gitreg.cli import main

main()
