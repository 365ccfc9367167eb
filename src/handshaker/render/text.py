"""Terminal drawings: the ladder of one connection and the connection table.

Everything that came from a packet is untrusted: it goes through
:func:`clean` (control characters and escape sequences removed) and is
never interpreted as rich markup (we build :class:`rich.text.Text` objects,
not markup strings).
"""

from __future__ import annotations

import re
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from handshaker.explain.i18n import t
from handshaker.explain.ladder import Ladder, Step

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(s: str) -> str:
    """Strip C0/C1 control characters (ANSI escapes start with one)."""
    return _CONTROL.sub("\ufffd", s)


STYLE_BY_PHASE = {
    "handshake": "bold green",
    "close": "bold yellow",
    "reset": "bold red",
    "data": "cyan",
}


def _arrow_style(step: Step) -> str:
    if step.analysis:
        return "magenta"
    if step.phase == "data" and not step.len:
        return "dim"
    return STYLE_BY_PHASE.get(step.phase, "")


def _fit(s: str, width: int) -> str:
    """Cut ``s`` to at most ``width`` terminal cells (wide characters count 2)."""
    if cell_len(s) <= width:
        return s
    out = ""
    for ch in s:
        if cell_len(out + ch + "…") > width:
            break
        out += ch
    return out + "…"


def wrap_cells(text: str, width: int) -> list[str]:
    """Wrap ``text`` to lines of at most ``width`` terminal cells.

    Breaks at spaces where there are any, and anywhere in runs of wide
    (CJK) characters, which have no spaces between words.
    """
    lines: list[str] = []
    line = ""
    for word in re.split(r"(\s+)", text):
        if not word:
            continue
        if cell_len(line + word) <= width:
            line += word
            continue
        if word.isspace():
            lines.append(line.rstrip())
            line = ""
            continue
        if line.strip():
            lines.append(line.rstrip())
            line = ""
        for ch in word:  # a word longer than the line (or CJK text): cut by cells
            if cell_len(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
    if line.strip():
        lines.append(line.rstrip())
    return lines


def step_text(step: Step, absolute: bool) -> str:
    flags = ",".join(f.upper() for f in step.flags) or "-"
    seq = step.seq_raw if absolute else step.seq
    ack = step.ack_raw if absolute else step.ack
    parts = [f"[{flags}]", f"Seq={seq}"]
    if step.has_ack:
        parts.append(f"Ack={ack}")
    parts.append(f"Len={step.len}")
    return " ".join(parts)


def render_ladder(ladder: Ladder, console: Console, *, absolute: bool = False,
                  notes: bool = True, ascii_only: bool = False) -> None:
    """Two lanes (client left, server right), one arrow per segment, time on the left."""
    lang = ladder.lang
    width = max(60, min(console.width, 110))
    time_w = 10
    lane_w = width - time_w - 2
    client = clean(f"{ladder.client[0]}:{ladder.client[1]}")
    server = clean(f"{ladder.server[0]}:{ladder.server[1]}")
    title = t("stream_title", lang, stream=ladder.stream, client=client, server=server)
    console.print(Text(title, style="bold"))
    for n in ladder.notes:
        console.print(Text(clean(n), style="dim"))
    mode = t("absolute", lang) if absolute else t("relative", lang)
    head_l = f"{t('client', lang)} {client}"
    head_r = f"{t('server', lang)} {server}"
    gap = max(1, lane_w - cell_len(head_l) - cell_len(head_r))
    time_head = t("time", lang) + " (s)"
    time_head = " " * max(0, time_w - cell_len(time_head)) + time_head
    console.print(Text(f"{time_head}  " + head_l + " " * gap + head_r, style="bold"),
                  no_wrap=True, overflow="ellipsis")
    console.print(Text(f"{'':>{time_w}}  Seq/Ack: {mode}", style="dim"))
    bar = "|" if ascii_only else "│"
    dash = "-" if ascii_only else "─"
    right = ">" if ascii_only else "▶"
    left = "<" if ascii_only else "◀"
    inner = lane_w - 2
    prev_states: tuple[str | None, str | None] = (None, None)
    for step in ladder.steps:
        label = clean(step_text(step, absolute))
        label = _fit(label, inner - 6)
        body = f" {label} "
        fill = inner - 1 - cell_len(body)
        if step.dir == "c2s":
            arrow = dash * 2 + body + dash * max(0, fill - 2) + right
        else:
            arrow = left + dash * max(0, fill - 2) + body + dash * 2
        line = Text(f"{step.time_ns / 1e9:>{time_w}.6f}  ")
        line.append(bar)
        line.append(arrow, style=_arrow_style(step))
        line.append(bar)
        console.print(line, no_wrap=True, overflow="ellipsis")
        sub = clean(step.label)
        if step.analysis:
            sub += "  [" + ", ".join(step.analysis) + "]"
        line2 = Text(f"{'':>{time_w}}  {bar} ", style="dim") + Text(
            f"{sub}  (#{step.frame})", style=_arrow_style(step) or "dim")
        states = (step.client_state, step.server_state)
        if states != prev_states and step.client_state:
            # the endpoints' RFC 9293 states, shown when they change
            shown = (f"{t('client', ladder.lang)} {step.client_state} · "
                     f"{t('server', ladder.lang)} {step.server_state}")
            pad = max(2, time_w + 2 + lane_w - line2.cell_len - cell_len(shown))
            line2.append(" " * pad + shown, style="blue")
        prev_states = states
        console.print(line2, no_wrap=True, overflow="ellipsis")
        if notes and step.note:
            for part in wrap_cells(clean(step.note), lane_w - 4):
                console.print(Text(f"{'':>{time_w}}  {bar}   ", style="dim")
                              + Text(part, style="italic dim"), no_wrap=True)


def render_connections(rows: list[dict[str, Any]], console: Console, title: str | None = None
                       ) -> None:
    """The `analyze` table: one row per conversation."""
    table = Table(title=clean(title) if title else None, show_lines=False, header_style="bold")
    for col in ("proto", "stream", "client", "server", "frames", "pkts", "bytes c→s/s→c",
                "handshake", "close", "state", "history", "anomalies"):
        table.add_column(col, overflow="fold")
    for r in rows:
        an = r.get("anomalies") or []
        kinds: dict[str, int] = {}
        for a in an:
            kinds[a["kind"]] = kinds.get(a["kind"], 0) + 1
        an_text = ", ".join(f"{k}×{v}" for k, v in kinds.items())
        hs = r.get("handshake") or {}
        cl = r.get("close") or {}
        close_text = cl.get("kind", "")
        if cl.get("initiator"):
            close_text += f" ({cl['initiator']})"
        table.add_row(
            Text(r["proto"]), Text(str(r["stream"])),
            Text(clean(f"{r['client']['ip']}:{r['client']['port']}")),
            Text(clean(f"{r['server']['ip']}:{r['server']['port']}")),
            Text(f"{r['first_frame']}-{r['last_frame']}"), Text(str(r["packets"])),
            Text(f"{r['bytes']['c2s']}/{r['bytes']['s2c']}"),
            Text(hs.get("state", "") if hs else ("→many " + r.get("one_to_many", "")
                                                   if r.get("one_to_many") else "")),
            Text(close_text), Text(r.get("conn_state", "")), Text(r.get("history", "")),
            Text(an_text, style="magenta" if an_text else ""),
        )
    console.print(table)
