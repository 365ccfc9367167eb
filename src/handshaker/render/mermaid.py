"""A ladder as a Mermaid ``sequenceDiagram``, which GitHub and GitLab draw in Markdown.

Each segment is a message between the two participants (client and server,
with their addresses), labelled with its flags, Seq/Ack and length and the
TLS messages it completed; each run of one phase is a shaded ``rect`` with
a note naming the phase; segments the analysis flagged get a note.

Mermaid reads ``;`` and ``#`` in message text as syntax and ``<``/``>`` as
HTML: they are written as its entity codes (``#59;``, ``#35;``, ``#lt;``,
``#gt;``), and control characters and line breaks are dropped, so that a
string from a packet can neither end a statement nor inject markup.
"""

from __future__ import annotations

import re

from handshaker.explain.i18n import t
from handshaker.explain.ladder import Ladder
from handshaker.render.svg import phases
from handshaker.render.text import step_text

PHASE_RGB = {
    "handshake": "rgb(227, 244, 230)", "tls": "rgb(227, 236, 251)",
    "data": "rgb(245, 245, 245)", "close": "rgb(251, 243, 220)", "reset": "rgb(251, 227, 227)",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
             "%": "#37;", "{": "#123;", "}": "#125;"}


def mermaid_text(s: str) -> str:
    """Text safe inside a Mermaid message, note or participant name."""
    s = _CONTROL.sub(" ", s)
    return "".join(_ENTITIES.get(ch, ch) for ch in s)


def render_mermaid(ladder: Ladder, *, absolute: bool = False) -> str:
    lang = ladder.lang
    c, s = ladder.client, ladder.server
    out = [
        "sequenceDiagram",
        f"    participant C as {mermaid_text(t('client', lang))} {mermaid_text(f'{c[0]}:{c[1]}')}",
        f"    participant S as {mermaid_text(t('server', lang))} {mermaid_text(f'{s[0]}:{s[1]}')}",
    ]
    current = None
    for step, phase in zip(ladder.steps, phases(ladder), strict=True):
        if phase != current:
            if current is not None:
                out.append("    end")
            out.append(f"    rect {PHASE_RGB.get(phase, PHASE_RGB['data'])}")
            out.append(f"    Note over C,S: {mermaid_text(t('phase_' + phase, lang))}")
            current = phase
        arrow = "C->>S" if step.dir == "c2s" else "S->>C"
        label = f"#{step.frame} {step_text(step, absolute)}"
        if step.tls:
            label += " " + ", ".join(step.tls)
        out.append(f"    {arrow}: {mermaid_text(label)}")
        if step.analysis:
            side = "S" if step.dir == "c2s" else "C"
            out.append(f"    Note right of {side}: {mermaid_text(', '.join(step.analysis))}")
    if current is not None:
        out.append("    end")
    return "\n".join(out) + "\n"


__all__ = ["mermaid_text", "render_mermaid"]
