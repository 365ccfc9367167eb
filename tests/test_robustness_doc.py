"""docs/robustness.md lists every limit in the code (a module-level MAX_* or *_IDLE_NS
constant), with the value it has."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "handshaker"
LIMIT = re.compile(r"^((?:MAX_[A-Z_]+)|(?:[A-Z_]*IDLE_NS)) = ", re.M)


def limits() -> list[tuple[str, str, int]]:
    """(name, module path under handshaker/, value) of every limit constant."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        for name in LIMIT.findall(path.read_text()):
            mod = "handshaker." + ".".join(path.relative_to(SRC).with_suffix("").parts)
            out.append((name, str(path.relative_to(SRC)), getattr(importlib.import_module(mod),
                                                                  name)))
    return out


def test_every_limit_is_documented_with_its_value() -> None:
    doc = (ROOT / "docs" / "robustness.md").read_text()
    rows = {m.group(1): line for line in doc.splitlines()
            if (m := re.match(r"\| `([A-Z_]+)` \|", line))}
    found = limits()
    assert len(found) >= 25
    for name, where, value in found:
        assert name in rows, f"{name} ({where}) is not in docs/robustness.md"
        assert f"| {where} |" in rows[name], (name, where)
        assert f"| {value:,} |" in rows[name], (name, value)
