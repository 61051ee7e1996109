"""Writes small TOP-format CSVs with a learnable text signal (deterministic)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HEADER = ["nctid", "status", "why_stop", "label", "phase", "diseases", "icdcodes", "drugs", "smiless", "criteria"]
GOOD = ["responsive biomarker positive", "measurable disease adequate organ function", "prior response"]
BAD = ["refractory progressive disease", "multiple prior failures", "poor performance status"]


def write_top_csv(path: Path, first_id: int, n: int, *, seed: int, phase: str = "phase 2",
                  with_label: bool = True, ids: list[str] | None = None) -> list[int]:
    rng = np.random.default_rng(seed)
    labels = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER if with_label else [h for h in HEADER if h != "label"])
        for i in range(n):
            label = int(rng.random() < 0.5)
            labels.append(label)
            words = GOOD if (label == 1) == (rng.random() < 0.85) else BAD
            crit = "Inclusion Criteria: " + " ".join(rng.choice(words, 3)) + " adults aged 18 or older"
            nct = ids[i] if ids else f"NCT{first_id + i:08d}"
            row = [nct, "completed" if label else "terminated", "" if label else "lack of efficacy", label,
                   phase if i % 4 else "phase 1/phase 2", "['disease x']", "[\"['C34.90']\"]",
                   "['alpha']", "[]", crit]
            if not with_label:
                row.pop(3)
            w.writerow(row)
    return labels
