"""The EU DigComp 2.2 framework: 21 competences (``1.1`` to ``5.4``) with proficiency levels 1-8."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

MIN_LEVEL, MAX_LEVEL = 1, 8


@cache
def framework() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "digcomp.json").read_text("utf-8"))
    return data


@cache
def competences() -> dict[str, str]:
    """Competence code to its English name."""
    return {c["code"]: c["name"] for area in framework()["areas"] for c in area["competences"]}


def is_competence(code: str) -> bool:
    return code in competences()
