"""Regenerate the schema section of docs/EVIDENCE.md from the record models.

Run:  .venv/bin/python tools/make_schema_doc.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stemdm.evidence.schema import END, START, schema_markdown  # noqa: E402

DOC = ROOT / "docs" / "EVIDENCE.md"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + schema_markdown() + tail, encoding="utf-8")
    print(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
