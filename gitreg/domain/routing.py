"""Sticky, deterministic assignment of keys to an experiment's variants: one documented hash.

``bucket(experiment_id, key) = int.from_bytes(sha256(f"{experiment_id}\\n{key}".encode("utf-8")).digest()[:8],
"big") % 10000``; the key goes to the candidate exactly when ``bucket < round(split * 100)`` (``split`` in
percent, two decimals at most), to the control otherwise. Any language with SHA-256 computes the same
assignment; the README lists test vectors (``VECTORS`` below, checked by a test).
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000
CONTROL, CANDIDATE = "control", "candidate"

# (experiment id, key, bucket): the README's test vectors
VECTORS = (
    ("churn-production-20260101T000000Z", "user-1", 2628),
    ("churn-production-20260101T000000Z", "user-2", 116),
    ("churn-production-20260101T000000Z", "42", 2703),
    ("exp", "", 8533),
    ("exp", "ünïcode", 5222),
)


def bucket(experiment_id: str, key: str) -> int:
    digest = hashlib.sha256(f"{experiment_id}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def threshold(split: float) -> int:
    """The buckets below this go to the candidate (``split`` percent of 10,000)."""
    return round(split * 100)


def variant(experiment_id: str, key: str, split: float) -> str:
    return CANDIDATE if bucket(experiment_id, key) < threshold(split) else CONTROL
