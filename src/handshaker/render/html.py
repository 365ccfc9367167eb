"""``handshaker report``: one self-contained HTML page for a capture.

The page holds everything it shows and loads nothing (a Content Security
Policy of ``default-src 'none'`` says so to the browser): the capture's
summary; the conversation table, sortable and filterable by protocol, state,
TLS version, key exchange and SNI; and, for each TCP connection, its ladder
(the SVG of :mod:`handshaker.render.svg`, in both languages) with a side
panel that shows, for the arrow clicked, the packet's layers (TCP/IP's four
beside OSI's seven), every header field, the TLS messages it carried with
their explanation, and its bytes in hex. Buttons switch Seq/Ack between
relative and absolute and the page between English and Chinese.

The data goes into the page as JSON in a ``<script type="application/json">``
(``</`` written ``<\\/``, so no string can close the element), and the
script puts every string into the page with ``textContent``, never as HTML;
the only markup inserted is the SVG this module made, where every string is
already XML-escaped. Large captures stay usable: the table is built from the
JSON in one pass, and a ladder's SVG is put into the page only when its
connection is opened. Limits (named, STYLE §10): ladders for the first
``MAX_LADDERS`` TCP connections, at most ``MAX_LADDER_STEPS`` arrows each,
packet details for at most ``MAX_DETAIL_FRAMES`` frames; the page says
when a limit was reached.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from importlib import resources
from typing import Any

from handshaker.explain.i18n import PAGE_WORDS as UI
from handshaker.explain.i18n import t
from handshaker.render.text import endpoint_text

MAX_LADDERS = 2000
MAX_LADDER_STEPS = 1000
MAX_DETAIL_FRAMES = 20000
#: bytes of a frame shown in hex
MAX_HEX_BYTES = 2048



def _layer(la: dict[str, Any]) -> dict[str, Any]:
    """One layer of a frame for the panel: its names in both languages (header field
    names stay as tshark spells them)."""
    from handshaker.render.layers import LAYER_NAMES_ZH, OSI_NAMES, TCPIP_NAMES

    tcpip = str(la["tcpip_layer"]).capitalize()
    osi = la["osi_layers"]
    return {
        "name": {"en": la["name"], "zh": LAYER_NAMES_ZH.get(la["name"], la["name"])},
        "tcpip": {lang: TCPIP_NAMES[lang].get(tcpip, tcpip) for lang in ("en", "zh")},
        "osi": {lang: ", ".join(f"{n} {OSI_NAMES[lang].get(n, '')}".strip() for n in osi)
                for lang in ("en", "zh")},
        "length": la["length"],
        "fields": [[f["name"], f["value"]] for f in la["fields"]],
    }


def _tls_fields(s: Any) -> dict[str, list[list[Any]]]:
    """What the panel shows for the hello and certificate messages: field, value."""
    offered = s.offered or {}

    def names(key: str) -> str:
        return ", ".join(v["name"] if isinstance(v, dict) else str(v)
                         for v in offered.get(key, []))

    # field names are keys of the page's words (PAGE_WORDS), which the page translates
    hello = [["SNI", s.sni or ""], ["ALPN", ", ".join(s.alpn_offered)],
             ["f_versions", names("versions")], ["f_suites", names("cipher_suites")],
             ["f_groups", names("groups")], ["f_sigalgs", names("signature_algorithms")],
             ["JA3", s.ja3 or ""], ["JA4", s.ja4 or ""]]
    server = [["f_version", s.version or ""], ["f_suite", s.cipher_suite_name or ""],
              ["f_kx", s.key_exchange or ""], ["f_group", s.group or ""],
              ["ALPN", s.alpn_selected or ""],
              ["f_fs", {"en": s.forward_secrecy_text("en"), "zh": s.forward_secrecy_text("zh")}],
              ["f_resumed", s.resumption or "-"], ["JA3S", s.ja3s or ""]]
    certs = [[f"f_cert {i}", f"{c.get('subject', c.get('error', ''))} "
              f"(issuer {c.get('issuer', '?')})"] for i, c in enumerate(s.certificates)]
    if s.decryption is not None:
        d = s.decryption
        server.append(["decrypted", "✓" if d.ok else {"en": f"✗ {d.reason}",
                                                       "zh": f"✗ {d.reason_zh}"}])
    return {"client_hello": [f for f in hello if f[1]],
            "server_hello": [f for f in server if f[1]], "certificate": certs}


def _conn_row(c: Any) -> dict[str, Any]:
    from handshaker.flow.tcp import TcpSummary

    row: dict[str, Any] = {"stream": c.stream,
                           "proto": "tcp" if isinstance(c, TcpSummary) else "udp",
                           "client": endpoint_text(c.client), "server": endpoint_text(c.server)}
    if isinstance(c, TcpSummary):
        row.update({"packets": c.packets, "bytes": [c.bytes_c2s, c.bytes_s2c],
                    "handshake": c.handshake.get("state"), "close": c.close.get("kind"),
                    "state": c.conn_state})
        s = c.tls
        if s is not None:
            row.update({"tls": s.version, "kx": s.key_exchange, "sni": s.sni,
                        "decrypted": bool(s.decryption and s.decryption.ok)})
    else:
        row.update({"packets": c.packets, "bytes": [c.bytes_c2s, c.bytes_s2c],
                    "handshake": None, "close": None, "state": None})
    return row


def build_report(path: str | os.PathLike[str], *, keys: Any = None, lang: str = "en",
                 ca_file: str | None = None) -> tuple[str, dict[str, Any]]:
    """(the HTML page, a few numbers about it) for a capture."""
    from handshaker.analysis import analyze
    from handshaker.capture import open_capture
    from handshaker.dissect.packet import decode
    from handshaker.explain.ladder import build_ladder
    from handshaker.render.layers import layers_json
    from handshaker.render.svg import render_svg

    other = "zh" if lang == "en" else "en"
    a = analyze(path, keep_tcp=lambda n: n < MAX_LADDERS, keys=keys, tls_detail=True,
                ca_file=ca_file)
    ladders: dict[str, Any] = {}
    wanted: set[int] = set()
    limits: list[str] = []
    for c in a.tcp:
        st = a.kept.get(c.stream)
        if st is None:
            continue
        main = build_ladder(st, c, lang)
        second = build_ladder(st, c, other)
        if len(main.steps) > MAX_LADDER_STEPS:
            limits.append(f"stream {c.stream}: first {MAX_LADDER_STEPS} of "
                          f"{len(main.steps)} segments drawn")
            main = replace(main, steps=main.steps[:MAX_LADDER_STEPS])
            second = replace(second, steps=second.steps[:MAX_LADDER_STEPS])
        steps = []
        for s1, s2 in zip(main.steps, second.steps, strict=True):
            steps.append({
                "frame": s1.frame, "dir": s1.dir, "flags": list(s1.flags),
                "seq": s1.seq, "ack": s1.ack, "seq_raw": s1.seq_raw, "ack_raw": s1.ack_raw,
                "len": s1.len, "tls": list(s1.tls), "analysis": list(s1.analysis),
                "states": [s1.client_state, s1.server_state],
                "label": {lang: s1.label, other: s2.label},
                "note": {lang: s1.note, other: s2.note},
                "tls_notes": {lang: list(s1.tls_notes), other: list(s2.tls_notes)},
            })
            if len(wanted) < MAX_DETAIL_FRAMES:
                wanted.add(s1.frame)
        ladders[str(c.stream)] = {
            "svg": render_svg(main, other_lang=other, xml_declaration=False),
            "steps": steps,
            "tls": _tls_fields(c.tls) if c.tls is not None else None,
            "title": {lang: t("stream_title", lang, stream=c.stream,
                              client=f"{main.client[0]}:{main.client[1]}",
                              server=f"{main.server[0]}:{main.server[1]}"),
                      other: t("stream_title", other, stream=c.stream,
                               client=f"{main.client[0]}:{main.client[1]}",
                               server=f"{main.server[0]}:{main.server[1]}")},
        }
    if a.tcp_streams > MAX_LADDERS:
        limits.append(f"ladders for the first {MAX_LADDERS} of {a.tcp_streams} TCP streams")
    frames: dict[str, Any] = {}
    if wanted:
        with open_capture(path) as cap:
            for fr in cap:
                if fr.number in wanted:
                    info = layers_json(decode(fr))
                    frames[str(fr.number)] = {
                        "layers": [_layer(la) for la in info["layers"]],
                        "summary": info["summary"],
                        "hex": bytes(fr.data[:MAX_HEX_BYTES]).hex(),
                        "caplen": len(fr.data),
                    }
    data = {
        "lang": lang,
        "meta": {"file": os.path.basename(os.fspath(path)), "frames": a.frames,
                 "duration": ((a.last_ts_ns or 0) - (a.first_ts_ns or 0)) / 1e9,
                 "tcp": a.tcp_streams, "udp": a.udp_streams, "limits": limits},
        "ui": UI,
        "conns": [_conn_row(c) for c in a.connections],
        "ladders": ladders,
        "frames": frames,
    }
    payload = json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
    assets = resources.files("handshaker.render") / "assets"
    page = (assets / "report.html").read_text(encoding="utf-8")
    page = page.replace("/*CSS*/", (assets / "report.css").read_text(encoding="utf-8"))
    page = page.replace("/*JS*/", (assets / "report.js").read_text(encoding="utf-8"))
    page = page.replace("<!--LANG-->", lang).replace("<!--DATA-->", payload)
    return page, {"connections": len(data["conns"]), "ladders": len(ladders),
                  "frames": len(frames)}


__all__ = ["MAX_DETAIL_FRAMES", "MAX_LADDERS", "MAX_LADDER_STEPS", "build_report"]
