"""Terminal drawings: the ladder of one connection and the connection table.

Everything that came from a packet is untrusted: it goes through
:func:`clean` (control characters and escape sequences removed) and is
never interpreted as rich markup (we build :class:`rich.text.Text` objects,
not markup strings).
"""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from handshaker.explain.i18n import t
from handshaker.explain.i18n import word as word_for
from handshaker.explain.ladder import Ladder, Step

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def endpoint_text(ep: Any) -> str:
    """An endpoint (TCP's Endpoint, or UDP's (ip, port)) as ip:port, [ip]:port for IPv6."""
    ip, port = (ep.ip, ep.port) if hasattr(ep, "ip") else (ep[0], ep[1])
    return f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}"


def clean(s: str) -> str:
    """Strip C0/C1 control characters (ANSI escapes start with one)."""
    return _CONTROL.sub("\ufffd", s)


STYLE_BY_PHASE = {
    "handshake": "bold green",
    "tls": "bold blue",
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
        tls_notes = step.tls_notes if notes else ()  # the label names them already
        for i, tls_note in enumerate(tls_notes):
            mark = "└" if i == len(tls_notes) - 1 else "├"
            if ascii_only:
                mark = "+"
            parts = wrap_cells(clean(tls_note), lane_w - 6)
            for j, part in enumerate(parts):
                lead = f"{mark} " if j == 0 else ("│ " if mark == "├" and not ascii_only
                                                  else "  ")
                console.print(Text(f"{'':>{time_w}}  {bar}   ", style="dim")
                              + Text(lead + part, style="blue"), no_wrap=True)
        if notes and step.note:
            for part in wrap_cells(clean(step.note), lane_w - 4):
                console.print(Text(f"{'':>{time_w}}  {bar}   ", style="dim")
                              + Text(part, style="italic dim"), no_wrap=True)


SHORT_ANOMALY = {
    "retransmission": "retx", "fast_retransmission": "fast-retx",
    "spurious_retransmission": "spurious-retx", "out_of_order": "ooo",
    "lost_segment": "lost", "ack_lost_segment": "acked-unseen", "duplicate_ack": "dupack",
    "zero_window": "zero-win", "zero_window_probe": "zwin-probe", "keep_alive": "keep-alive",
    "window_full": "win-full", "reused_ports": "port-reuse",
}


TABLE_MIN_WIDTH = 110


def _cells(r: dict[str, Any], lang: str = "en") -> dict[str, str]:
    counts: dict[str, int] = {}
    for a in r.get("anomalies") or []:
        counts[a["kind"]] = counts.get(a["kind"], 0) + 1
    hs = r.get("handshake") or {}
    cl = r.get("close") or {}
    if r["proto"] == "udp":
        hs_text = f"→ {r['one_to_many']}" if r.get("one_to_many") else ""
        close_text = ""
    else:
        hs_text = hs.get("state", "")
        close_text = cl.get("kind", "")
        if lang != "en":  # the words in the language asked for (English keeps the names)
            hs_text = word_for(hs_text, lang) if hs_text else ""
            close_text = word_for(close_text, lang) if close_text else ""
        if cl.get("initiator"):
            close_text += t("by_who", lang, who=t(cl["initiator"], lang))
    return {
        "conn": f"{r['proto']} {r['stream']}",
        "client": clean(f"{r['client']['ip']}:{r['client']['port']}"),
        "server": clean(f"{r['server']['ip']}:{r['server']['port']}"),
        "pkts": str(r["packets"]),
        "bytes": f"{r['bytes']['c2s']}/{r['bytes']['s2c']}",
        "handshake": hs_text,
        "close": close_text,
        "state": r.get("conn_state", ""),
        "history": r.get("history", ""),
        "anomalies": " ".join(f"{SHORT_ANOMALY.get(k, k)}×{v}" for k, v in counts.items()),
        "tls": _tls_cell(r.get("tls")),
    }


def _tls_cell(tls: dict[str, Any] | None) -> str:
    """'TLS 1.2 ecdhe example.com' for the analyze table."""
    if not tls:
        return ""
    parts = [tls.get("version") or "TLS?", tls.get("key_exchange") or ""]
    if tls.get("sni"):
        parts.append(clean(tls["sni"]))
    return " ".join(p for p in parts if p)


def _connection_lines(rows: list[dict[str, Any]], console: Console, title: str | None,
                      lang: str = "en") -> None:
    if title:
        console.print(Text(clean(title), style="bold"))
    for r in rows:
        c = _cells(r, lang)
        line = Text(f"{c['conn']:<7} ", style="bold")
        line.append(f"{c['client']} → {c['server']}  {c['pkts']} pkts  {c['bytes']} B  ")
        line.append(" ".join(x for x in (c["handshake"], c["close"], c["state"], c["history"],
                                          c["tls"]) if x))
        if c["anomalies"]:
            line.append("  " + c["anomalies"], style="magenta")
        console.print(line)


def render_connections(rows: list[dict[str, Any]], console: Console, title: str | None = None,
                       lang: str = "en") -> None:
    """The `analyze` table: one row per conversation (full names in --format json).

    A terminal narrower than a table row gets one plain line per conversation.
    """
    if console.width < TABLE_MIN_WIDTH:
        _connection_lines(rows, console, title, lang)
        return
    table = Table(title=clean(title) if title else None, show_lines=False, header_style="bold",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    any_anomaly = any(r.get("anomalies") for r in rows)
    columns = ["conn", "endpoints", "pkts", "bytes", "handshake", "close", "state",
               "history"]
    any_tls = any(r.get("tls") for r in rows)
    if any_tls:
        columns.append("tls")
    if any_anomaly:
        columns.append("anomalies")
    for col in columns:
        # addresses may fold onto two lines; Zeek's letters and the counts must not
        folds = col in ("endpoints", "anomalies", "close", "handshake", "tls")
        table.add_column(t("col_" + col, lang), no_wrap=not folds, overflow="fold",
                         min_width={"anomalies": 12, "close": 8, "handshake": 8,
                                    "endpoints": 15}.get(col))
    for r in rows:
        c = _cells(r, lang)
        an_text = c["anomalies"]
        cells = [
            Text(c["conn"]), Text(c["client"] + "\n→ " + c["server"]), Text(c["pkts"]),
            Text(c["bytes"]), Text(c["handshake"]), Text(c["close"]), Text(c["state"]),
            Text(c["history"]),
        ]
        if any_tls:
            cells.append(Text(c["tls"], style="blue"))
        if any_anomaly:
            cells.append(Text(an_text, style="magenta" if an_text else ""))
        table.add_row(*cells)
    console.print(table)
