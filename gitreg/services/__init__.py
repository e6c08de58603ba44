"""One module per capability; each takes git (and a Snapshot where it reads the registry), never the Registry."""
