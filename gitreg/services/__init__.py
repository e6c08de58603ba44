"""One module per capability; each takes git, a Snapshot and the artifact store, never the Registry."""
