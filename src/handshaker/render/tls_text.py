"""`handshaker tls`: every TLS session of a capture in detail, in the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from handshaker.render.text import clean


def _kv(table: Table, key: str, value: Any, style: str = "") -> None:
    if value in (None, "", [], {}):
        return
    table.add_row(Text(key, style="bold"), Text(clean(str(value)), style=style))


def render_session(s: dict[str, Any], console: Console) -> None:
    """One session (the JSON contract's dict) as a block of facts and tables."""
    client = s.get("client") or {}
    server = s.get("server") or {}
    title = (f"TLS on TCP stream {s['stream']}: {client.get('ip')}:{client.get('port')} → "
             f"{server.get('ip')}:{server.get('port')}")
    console.print(Text(clean(title), style="bold"))
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(no_wrap=True)
    facts.add_column()
    suite = s.get("cipher_suite") or {}
    _kv(facts, "version", s.get("version"))
    if suite:
        _kv(facts, "cipher suite", f"{suite.get('name')} (0x{suite.get('id', 0):04x})")
    fs = s.get("forward_secrecy")
    kx = s.get("key_exchange")
    if kx:
        mark = "" if fs is None else "forward secrecy" if fs else "NO forward secrecy"
        _kv(facts, "key exchange", f"{kx}: {mark}", "green" if fs else "red" if fs is False
            else "")
        _kv(facts, "", s.get("forward_secrecy_reason"), "dim")
    _kv(facts, "group", s.get("group"))
    _kv(facts, "SNI", s.get("sni"))
    alpn = s.get("alpn") or {}
    if alpn.get("offered"):
        _kv(facts, "ALPN", f"offered {', '.join(alpn['offered'])}; selected "
                           f"{alpn.get('selected') or '(not seen: encrypted in TLS 1.3)'}")
    if s.get("resumed"):
        _kv(facts, "resumed", f"yes, by {s.get('resumption')}")
    if s.get("hello_retry_request"):
        _kv(facts, "HelloRetryRequest", f"the server asked for {s.get('hello_retry_group')}")
    if s.get("client_auth"):
        _kv(facts, "client certificate", "sent")
    for a in s.get("alerts") or []:
        _kv(facts, "alert", f"#{a['frame']} {a['dir']} {a['level']} {a['name']}: "
                            f"{a.get('meaning', '')}", "red" if a["level"] == "fatal" else "")
    _kv(facts, "close", s.get("close"))
    _kv(facts, "JA3", s.get("ja3"))
    _kv(facts, "JA3S", s.get("ja3s"))
    _kv(facts, "JA4", s.get("ja4"))
    timing = s.get("timing_ms") or {}
    if timing:
        _kv(facts, "timing (ms)", ", ".join(f"{k} {v}" for k, v in timing.items()))
    console.print(facts)
    msgs = s.get("messages") or []
    if msgs:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
        for col in ("frame", "dir", "message", "bytes"):
            t.add_column(col)
        for m in msgs:
            name = m["type"] + (" (encrypted)" if m.get("encrypted") else "")
            t.add_row(str(m["frame"]), "→" if m["dir"] == "c2s" else "←", clean(name),
                      str(m.get("length", "")))
        console.print(t)
    certs = s.get("certificates") or []
    for i, c in enumerate(certs):
        if "error" in c:
            console.print(Text(f"  certificate {i}: {clean(c['error'])}", style="red"))
            continue
        console.print(Text(f"  certificate {i}: {clean(c.get('subject', ''))}", style="bold"))
        console.print(Text(clean(f"    issuer {c.get('issuer')}; key {c.get('key')}; "
                                 f"{c.get('signature_algorithm')}; SANs {c.get('san_count')}"),
                           style="dim"))
    v = s.get("verification")
    if v:
        console.print(Text(clean(f"  certificate check: {v['summary']}"),
                           style="green" if v["ok"] else "red"))
        for chk in v.get("checks", []):
            console.print(Text(clean(f"    {'ok ' if chk['ok'] else 'NO '} {chk['name']}: "
                                     f"{chk['reason']}"), style="" if chk["ok"] else "red"))
    offered = s.get("offered") or {}
    chosen = s.get("chosen") or {}
    if offered:
        t = Table(title="offered by the client (the server's choice marked ✓)",
                  box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
        t.add_column("what", no_wrap=True)
        t.add_column("offered")
        picks = {
            "versions": chosen.get("version"),
            "cipher_suites": (chosen.get("cipher_suite") or {}).get("name"),
            "groups": chosen.get("group"),
            "alpn": chosen.get("alpn"),
        }
        for key, values in offered.items():
            names = [v["name"] if isinstance(v, dict) else str(v) for v in values]
            pick = picks.get(key)
            text = ", ".join(f"✓{n}" if pick and n == pick else n for n in names)
            t.add_row(key, clean(text))
        console.print(t)
    for d in s.get("diagnostics") or []:
        console.print(Text(clean(f"  note: {d}"), style="yellow"))
    console.print()
