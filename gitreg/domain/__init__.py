"""Pure values and rules: no I/O, no Git, no DVC. Everything above builds on these."""
