from __future__ import annotations

import re
from pathlib import Path

from cityloop.cases import workflow

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_workflow_diagram_in_docs_matches_the_transition_table() -> None:
    text = (DOCS / "workflow.md").read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block is not None, "docs/workflow.md lost its mermaid block"
    assert block.group(1) == workflow.mermaid(), "regenerate the diagram with `cityloop workflow`"


def test_workflow_doc_names_every_action() -> None:
    text = (DOCS / "workflow.md").read_text(encoding="utf-8")
    missing = [a.value for a in workflow.Action if f"`{a.value}`" not in text]
    assert missing == []
