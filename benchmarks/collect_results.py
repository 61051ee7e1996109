"""Assemble benchmarks/RESULTS.md: the summary (benchmarks/results/SUMMARY.md, written by hand
from the figures below it) followed by every benchmark's own results file, verbatim.

    python benchmarks/collect_results.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["kg_write.md", "kg_build.md", "sources_rdf.md", "reasoning.md", "evaluation.md", "train.md"]


def main() -> None:
    results = HERE / "results"
    parts = [(results / "SUMMARY.md").read_text(encoding="utf-8").rstrip()]
    names = ORDER + sorted(p.name for p in results.glob("*.md") if p.name not in ORDER and p.name != "SUMMARY.md")
    for name in names:
        path = results / name
        if path.is_file():
            body = path.read_text(encoding="utf-8").rstrip()
            # demote headings by one level so each file is a section of RESULTS.md
            body = "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines())
            parts.append(f"<!-- from benchmarks/results/{name} -->\n{body}")
    (HERE / "RESULTS.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'} from {len(parts) - 1} result files")


if __name__ == "__main__":
    main()
