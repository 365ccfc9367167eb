"""A ladder as SVG: two lanes, one sloped arrow per segment, phases shaded.

The drawing is built from the :class:`~handshaker.explain.ladder.Ladder`
alone (it computes nothing about the protocol). Layout:

* the client's lane on the left, the server's on the right, each headed by
  its role and address, with the RFC 9293 state each side is in after each
  segment written beside its lane;
* one row per segment, top to bottom in capture order; the time (seconds
  from the connection's first packet) and the frame number on the far left;
* each arrow slopes down by the time the segment was in flight: half the
  handshake's round-trip time, measured against the time between segments
  (a capture taken at one end sees a packet leave or arrive, not both; the
  slope is the textbook's picture of that delay, never less than a few
  pixels so that direction stays visible);
* above the arrow its flags, Seq/Ack (relative or absolute) and length;
  below it the TLS messages it completed; segments flagged by the analysis
  (retransmission, ...) are drawn in magenta and named;
* rows of one phase (handshake, TLS, data, close, reset) share a shaded
  band named on the left;
* every arrow is a ``<g class="step">`` with ``data-frame`` and
  ``data-index``, and a ``<title>`` holding the explanation (a tooltip),
  so that the HTML report can make it clickable.

Sizes are in a ``viewBox``: the picture scales to any size. Every string
that came from a packet is escaped for XML, and control characters (which
XML 1.0 cannot hold) are replaced.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from handshaker.explain.i18n import t
from handshaker.explain.ladder import Ladder, Step
from handshaker.render.text import step_text

WIDTH = 980
LEFT, RIGHT = 250, 830  # the two lanes
TOP = 96  # first row
ROW = 58  # height of a row without TLS lines
TLS_LINE = 14
MIN_DROP, MAX_DROP = 10, 34  # how far an arrow slopes down, in pixels

PHASE_FILL = {
    "handshake": "#e3f4e6", "tls": "#e3ecfb", "data": "#f5f5f5", "close": "#fbf3dc",
    "reset": "#fbe3e3",
}
PHASE_STROKE = {
    "handshake": "#1b7f3a", "tls": "#1f5fbf", "data": "#444444", "close": "#a86f00",
    "reset": "#c62828",
}
ANOMALY = "#b0179e"
#: TLS record kinds that belong to the data phase, not to the TLS handshake
RECORDS_OF_DATA = frozenset({"application_data", "alert", "heartbeat"})
_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def _x(s: str) -> str:
    """Text for an XML text node: escaped, characters XML cannot hold replaced."""
    return escape(_XML_BAD.sub("\ufffd", s))


def _a(s: str) -> str:
    """A quoted XML attribute value."""
    return quoteattr(_XML_BAD.sub("\ufffd", s))


def phases(ladder: Ladder) -> list[str]:
    """The band each step is drawn in: its phase (``tls`` for a segment carrying TLS
    handshake messages, ``data`` for encrypted application data); a bare ACK stays in
    the band of the segment before it, so that the ACKs inside a handshake do not cut
    its band."""
    out: list[str] = []
    for s in ladder.steps:
        phase = "tls" if s.tls and s.phase == "data" else s.phase
        if phase == "tls" and set(s.tls) <= RECORDS_OF_DATA:
            phase = "data"  # encrypted application data (or an alert): not the handshake
        if out and phase == "data" and not s.len and not s.tls and \
                set(s.flags) <= {"ack"}:
            phase = out[-1]
        out.append(phase)
    return out


def _drop(ladder: Ladder) -> int:
    """Pixels an arrow slopes down: the one-way delay against the time between segments."""
    rtt = ladder.summary.handshake.get("rtt_ms")
    steps = ladder.steps
    gaps = sorted(b.time_ns - a.time_ns for a, b in itertools.pairwise(steps)
                  if b.time_ns > a.time_ns)
    if not rtt or not gaps:
        return MIN_DROP
    one_way = rtt * 1e6 / 2
    typical = gaps[len(gaps) // 2]
    return int(MIN_DROP + (MAX_DROP - MIN_DROP) * one_way / (one_way + typical))


def render_svg(ladder: Ladder, *, absolute: bool = False, other_lang: str | None = None,
               xml_declaration: bool = True) -> str:
    """The whole SVG document of one connection's ladder. With ``other_lang`` every
    translated text is there twice, classed ``lang-en`` / ``lang-zh``, for a page that
    switches language with CSS (the HTML report); each label also carries its relative
    and absolute Seq/Ack text (``data-rel``, ``data-abs``)."""
    lang = ladder.lang

    def words(key: str) -> list[tuple[str, str]]:
        """(class, text) of a translated text, in one language or both."""
        if other_lang is None:
            return [("", t(key, lang))]
        return [(f"lang-{lang}", t(key, lang)), (f"lang-{other_lang}", t(key, other_lang))]

    drop = _drop(ladder)
    rows: list[tuple[int, int]] = []  # (y, height) per step
    y = TOP
    for s in ladder.steps:
        h = ROW + TLS_LINE * max(0, len(s.tls) - 1) + (TLS_LINE if s.analysis else 0)
        rows.append((y, h))
        y += h
    height = y + 40
    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>' if xml_declaration else "",
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" class="ladder" '
        f'data-stream="{ladder.stream}" font-family="DejaVu Sans, Noto Sans CJK SC, '
        f'sans-serif" font-size="12">',
        f"<title>{_x(_title(ladder))}</title>",
        '<defs>',
    ]
    for name, color in (*PHASE_STROKE.items(), ("anomaly", ANOMALY)):
        out.append(f'<marker id="head-{name}" viewBox="0 0 10 10" refX="10" refY="5" '
                   f'markerUnits="userSpaceOnUse" markerWidth="14" markerHeight="14" '
                   f'orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>')
    out.append('</defs>')
    out.append(f'<rect width="{WIDTH}" height="{height}" fill="white"/>')
    bands = phases(ladder)
    out.extend(_bands(bands, rows, words))
    # lane heads and lanes
    for x, role, ep in ((LEFT, "client", ladder.client), (RIGHT, "server", ladder.server)):
        for cls, text in words(role):
            out.append(f'<text class="{cls}" x="{x}" y="34" text-anchor="middle" '
                       f'font-weight="bold" font-size="15">{_x(text)}</text>')
        out.append(f'<text x="{x}" y="54" text-anchor="middle" '
                   f'class="endpoint">{_x(f"{ep[0]}:{ep[1]}")}</text>')
        out.append(f'<line x1="{x}" y1="66" x2="{x}" y2="{height - 20}" stroke="#222" '
                   f'stroke-width="2"/>')
    for cls, text in words("time_col"):
        out.append(f'<text class="{cls}" x="8" y="80" font-size="11" fill="#555">'
                   f'{_x(text)}</text>')
    for i, (s, (y0, h)) in enumerate(zip(ladder.steps, rows, strict=True)):
        out.extend(_step(s, i, y0, h, drop, absolute, bands[i]))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(ladder: Ladder) -> str:
    c, s = ladder.client, ladder.server
    return f"TCP stream {ladder.stream}: {c[0]}:{c[1]} → {s[0]}:{s[1]}"


def _bands(bands: list[str], rows: list[tuple[int, int]], words: Any) -> list[str]:
    """One shaded band per run of rows of the same phase, named on the left."""
    out = []
    start = 0
    for i in range(1, len(bands) + 1):
        if i < len(bands) and bands[i] == bands[start]:
            continue
        phase = bands[start]
        y0 = rows[start][0] - 14
        y1 = rows[i - 1][0] + rows[i - 1][1] - 14
        out.append(f'<rect class="phase phase-{phase}" x="4" y="{y0}" width="{WIDTH - 8}" '
                   f'height="{y1 - y0}" rx="6" fill="{PHASE_FILL.get(phase, "#f5f5f5")}"/>')
        for cls, text in words("phase_" + phase):
            out.append(f'<text class="{cls}" x="12" y="{y0 + 14}" font-size="11" '
                       f'font-weight="bold" fill="{PHASE_STROKE.get(phase, "#444")}">'
                       f'{_x(text)}</text>')
        start = i
    return out


def _step(s: Step, i: int, y0: int, h: int, drop: int, absolute: bool, phase: str
          ) -> list[str]:
    c2s = s.dir == "c2s"
    x1, x2 = (LEFT, RIGHT) if c2s else (RIGHT, LEFT)
    y1, y2 = y0 + 14, y0 + 14 + drop
    color = ANOMALY if s.analysis else PHASE_STROKE.get(phase, "#444")
    head = "anomaly" if s.analysis else phase if phase in PHASE_STROKE else "data"
    dash = ' stroke-dasharray="6 4"' if s.phase == "data" and not s.len and \
        not s.tls else ""
    note = s.note or s.label
    if s.tls_notes:
        note += "\n" + "\n".join(s.tls_notes)
    out = [f'<g class="step" data-frame="{s.frame}" data-index="{i}" '
           f'data-dir="{s.dir}" data-phase="{phase}" id="f{s.frame}">',
           f"<title>{_x(f'#{s.frame} {s.label}: {note}')}</title>",
           # the whole row answers a click, not only the strokes and letters in it
           f'<rect class="row" x="0" y="{y0 - 10}" width="{WIDTH}" height="{h}" '
           'fill="transparent"/>',
           f'<text x="8" y="{y1 + 4}" font-size="11" fill="#555">'
           f'{s.time_ns / 1e9:.6f}</text>',
           f'<text x="88" y="{y1 + 4}" font-size="11" fill="#888">#{s.frame}</text>',
           f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" '
           f'stroke-width="2"{dash} marker-end="url(#head-{head})"/>',
           # a wide transparent line: easy to click
           f'<line class="hit" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="transparent" '
           f'stroke-width="14"/>']
    mid = (LEFT + RIGHT) // 2
    ym = (y1 + y2) // 2
    out.append(f'<text class="label" x="{mid}" y="{ym - 6}" text-anchor="middle" '
               f'fill="{color}" font-family="DejaVu Sans Mono, monospace" '
               f'data-rel={_a(step_text(s, False))} data-abs={_a(step_text(s, True))}>'
               f'{_x(step_text(s, absolute))}</text>')
    yl = ym + 14
    for name in s.tls:
        out.append(f'<text class="tls" x="{mid}" y="{yl}" text-anchor="middle" '
                   f'fill="{PHASE_STROKE["tls"]}" font-size="11">{_x(name)}</text>')
        yl += TLS_LINE
    if s.analysis:
        out.append(f'<text class="anomaly" x="{mid}" y="{yl}" text-anchor="middle" '
                   f'fill="{ANOMALY}" font-size="11">⚠ {_x(", ".join(s.analysis))}</text>')
    # the states each side is in after this segment, beside its lane
    if s.client_state:
        out.append(f'<text x="{LEFT - 8}" y="{y1 + 16}" text-anchor="end" font-size="10" '
                   f'fill="#666">{_x(s.client_state)}</text>')
    if s.server_state:
        out.append(f'<text x="{RIGHT + 8}" y="{y1 + 16}" font-size="10" fill="#666">'
                   f'{_x(s.server_state)}</text>')
    out.append("</g>")
    return out


__all__ = ["phases", "render_svg"]
