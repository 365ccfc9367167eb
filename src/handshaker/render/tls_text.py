"""`handshaker tls`: every TLS session of a capture in detail, in the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from handshaker.explain.i18n import tls_word
from handshaker.render.text import clean


def _kv(table: Table, key: str, value: Any, style: str = "") -> None:
    if value in (None, "", [], {}):
        return
    table.add_row(Text(key, style="bold"), Text(clean(str(value)), style=style))


def render_session(s: dict[str, Any], console: Console, lang: str = "en") -> None:
    """One session (the JSON contract's dict) as a block of facts and tables."""

    def w(key: str, **kw: Any) -> str:
        return tls_word(key, lang, **kw)

    client = s.get("client") or {}
    server = s.get("server") or {}
    title = w("title", stream=s["stream"], client=f"{client.get('ip')}:{client.get('port')}",
              server=f"{server.get('ip')}:{server.get('port')}")
    console.print(Text(clean(title), style="bold"))
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(no_wrap=True)
    facts.add_column()
    suite = s.get("cipher_suite") or {}
    _kv(facts, w("version"), s.get("version"))
    if suite:
        _kv(facts, w("suite"), f"{suite.get('name')} (0x{suite.get('id', 0):04x})")
    fs = s.get("forward_secrecy")
    kx = s.get("key_exchange")
    if kx:
        mark = "" if fs is None else w("fs_yes") if fs else w("fs_no")
        _kv(facts, w("kx"), f"{kx}: {mark}", "green" if fs else "red" if fs is False
            else "")
        _kv(facts, "", s.get("forward_secrecy_reason_zh") if lang == "zh" else
            s.get("forward_secrecy_reason"), "dim")
    _kv(facts, w("group"), s.get("group"))
    _kv(facts, "SNI", s.get("sni"))
    alpn = s.get("alpn") or {}
    if alpn.get("offered"):
        _kv(facts, "ALPN", w("alpn", offered=", ".join(alpn["offered"]),
                             selected=alpn.get("selected") or w("alpn_hidden")))
    if s.get("resumed"):
        _kv(facts, w("resumed"), w("resumed_by", how=s.get("resumption")))
    if s.get("hello_retry_request"):
        _kv(facts, "HelloRetryRequest", w("hrr", group=s.get("hello_retry_group")))
    if s.get("client_auth"):
        _kv(facts, w("client_cert"), w("sent"))
    for a in s.get("alerts") or []:
        meaning = a.get("meaning_zh") if lang == "zh" else a.get("meaning", "")
        _kv(facts, w("alert"), f"#{a['frame']} {a['dir']} {a['level']} {a['name']}: {meaning}",
            "red" if a["level"] == "fatal" else "")
    _kv(facts, w("close"), s.get("close"))
    _kv(facts, "JA3", s.get("ja3"))
    _kv(facts, "JA3S", s.get("ja3s"))
    _kv(facts, "JA4", s.get("ja4"))
    dec = s.get("decrypted")
    if dec is not None:
        _decryption(facts, dec, lang)
    timing = s.get("timing_ms") or {}
    if timing:
        _kv(facts, w("timing"), ", ".join(f"{k} {v}" for k, v in timing.items()))
    console.print(facts)
    msgs = s.get("messages") or []
    if msgs:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
        for col in ("col_frame", "col_dir", "col_message", "col_bytes"):
            t.add_column(w(col))
        for m in msgs:
            name = m["type"] + (f" ({w('decrypted_mark')})" if m.get("decrypted") else
                                f" ({w('encrypted_mark')})" if m.get("encrypted") else "")
            t.add_row(str(m["frame"]), "→" if m["dir"] == "c2s" else "←", clean(name),
                      str(m.get("length", "")))
        console.print(t)
    certs = s.get("certificates") or []
    for i, c in enumerate(certs):
        if "error" in c:
            console.print(Text(f"  {w('cert')} {i}: {clean(c['error'])}", style="red"))
            continue
        console.print(Text(f"  {w('cert')} {i}: {clean(c.get('subject', ''))}", style="bold"))
        console.print(Text(clean(w("cert_line", issuer=c.get("issuer"), pubkey=c.get("key"),
                                   sig=c.get("signature_algorithm"), sans=c.get("san_count"))),
                           style="dim"))
    v = s.get("verification")
    if v:
        zh = "_zh" if lang == "zh" else ""
        console.print(Text(clean(f"  {w('cert_check')}: {v.get('summary' + zh) or v['summary']}"),
                           style="green" if v["ok"] else "red"))
        for chk in v.get("checks", []):
            reason = chk.get("reason" + zh) or chk["reason"]
            console.print(Text(clean(f"    {'ok ' if chk['ok'] else 'NO '} {chk['name']}: "
                                     f"{reason}"), style="" if chk["ok"] else "red"))
    offered = s.get("offered") or {}
    chosen = s.get("chosen") or {}
    if offered:
        t = Table(title=w("offered_title"), box=box.SIMPLE_HEAD, pad_edge=False,
                  header_style="bold")
        t.add_column(w("col_what"), no_wrap=True)
        t.add_column(w("col_offered"))
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
    if dec is not None and dec.get("key_derivation"):
        _key_derivation(dec["key_derivation"], console, lang)
    for d in s.get("diagnostics") or []:
        console.print(Text(clean(f"  {w('note')}: {d}"), style="yellow"))
    console.print()


def _decryption(facts: Table, dec: dict[str, Any], lang: str) -> None:
    reason = dec.get("reason_zh") if lang == "zh" and dec.get("reason_zh") else \
        dec.get("reason")
    fin = dec.get("finished_verified") or {}
    checked = [tls_word(who, lang) for who, v in fin.items() if v]
    if dec.get("ok"):
        _kv(facts, tls_word("decrypted", lang),
            tls_word("decrypted_yes", lang, source=dec.get("key_source"),
                     records=dec.get("records"), who=", ".join(checked)), "green")
        _kv(facts, "", reason, "dim")
    else:
        _kv(facts, tls_word("decrypted", lang), tls_word("decrypted_no", lang, reason=reason),
            "red")


def _key_derivation(steps: list[dict[str, Any]], console: Console, lang: str) -> None:
    t = Table(title=tls_word("keys_title", lang), box=box.SIMPLE_HEAD, pad_edge=False,
              header_style="bold")
    t.add_column(tls_word("col_step", lang), no_wrap=True)
    t.add_column(tls_word("col_value", lang), overflow="fold")
    t.add_column(tls_word("col_meaning", lang))
    zh = "_zh" if lang == "zh" else ""
    for i, step in enumerate(steps, 1):
        t.add_row(f"{i}. {step['name' + zh]}", step["value" + zh], step["meaning" + zh])
    console.print(t)


#: bytes per line of the hex view (as Wireshark's Follow Stream shows them)
HEX_WIDTH = 16


def render_data(s: dict[str, Any], console: Console, lang: str = "en") -> None:
    """The decrypted application data of a session (``--data text|hex``), in the order it
    was sent, each chunk marked with its direction and frame."""
    chunks = s.get("data") or []
    if not chunks:
        dec = s.get("decrypted") or {}
        console.print(Text(tls_word("no_data" if dec.get("ok") else "nothing_decrypted",
                                    lang), style="dim"))
        console.print()
        return
    for c in chunks:
        arrow = tls_word("c2s" if c["dir"] == "c2s" else "s2c", lang)
        style = "red" if c["dir"] == "c2s" else "blue"
        console.print(Text(tls_word("chunk", lang, frame=c["frame"], arrow=arrow,
                                    n=c["length"]), style=f"bold {style}"))
        if "text" in c:
            console.print(Text(clean_keep_lines(c["text"]), style=style))
        else:
            data = bytes.fromhex(c["hex"])
            for off in range(0, len(data), HEX_WIDTH):
                row = data[off:off + HEX_WIDTH]
                printable = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
                console.print(Text(f"{off:08x}  {row.hex(' '):<{HEX_WIDTH * 3}} {printable}",
                                   style=style))
    console.print()


def clean_keep_lines(text: str) -> str:
    """Decrypted text for a terminal: line breaks and tabs kept, every other control
    character (escape sequences start with one) shown as a dot."""
    return "".join(ch if ch in "\n\t" or (ch >= " " and not 0x7f <= ord(ch) < 0xa0) else "."
                   for ch in text.replace("\r\n", "\n"))
