"""The outside world: Git (io/git.py is the only module that runs it), DVC and its cache layout, files."""
