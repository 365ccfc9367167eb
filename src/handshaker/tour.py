"""`handshaker tour`: a guided walk through captures shipped with the package.

The captures in ``handshaker/data`` were made by real peers on loopback
(``scripts/make_tour_captures.py``; provenance in ``data/README.md``). The
chapters follow a learner's notes: layers, TCP against UDP, random ISNs,
the three-way handshake, Seq/Ack moving with data, the four-way close, a
reset.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from handshaker.analysis import Analysis, analyze
from handshaker.explain.i18n import word
from handshaker.explain.ladder import Ladder, build_ladder
from handshaker.render.text import clean, render_ladder

ZH = "zh"


def data_path(name: str) -> Path:
    return Path(str(resources.files("handshaker") / "data" / name))


def _say(console: Console, lang: str, en: str, zh: str) -> None:
    console.print(Text(zh if lang == ZH else en))


def _ladder(path: Path, stream: int, lang: str) -> tuple[Analysis, Ladder]:
    a = analyze(path, keep_tcp=lambda n: n == stream)
    return a, build_ladder(a.kept[stream], a.tcp[stream], lang)


def _sub_ladder(ladder: Ladder, phases: set[str]) -> Ladder:
    steps = [s for s in ladder.steps if s.phase in phases]
    return Ladder(ladder.stream, ladder.client, ladder.server, steps, ladder.summary,
                  ladder.lang, [])


def ch_layers(console: Console, lang: str) -> None:
    from handshaker.capture import open_capture
    from handshaker.dissect.packet import decode
    from handshaker.render.layers import render_layers

    _say(console, lang,
         "One real packet (the client's SYN) taken apart. Each header belongs to one layer: "
         "the TCP/IP model has four, the OSI model seven. Look at the header sizes.",
         "拆开一个真实的数据包 (客户端的 SYN)。每个首部属于一层: TCP/IP 模型四层, OSI 模型七层。"
         "注意各首部的大小。")
    with open_capture(data_path("tour-tcp.pcap")) as cap:
        frame = next(iter(cap.frames()))
    render_layers(decode(frame), console=console, lang=lang)


Endpoints = tuple[int, tuple[str, int], tuple[str, int]]


def _conv_key(proto: int, x: tuple[str, int], y: tuple[str, int]) -> Endpoints:
    a, b = sorted((x, y))
    return (proto, a, b)


def _transport_header_bytes(path: Path) -> dict[Endpoints, int]:
    """(proto, endpoint, endpoint) -> bytes of TCP or UDP headers, packet by packet."""
    from handshaker.capture import open_capture
    from handshaker.dissect.packet import decode

    sizes: dict[Endpoints, int] = {}
    with open_capture(path) as cap:
        for frame in cap.frames():
            pkt = decode(frame)
            if pkt.src is None or pkt.dst is None:
                continue
            for layer in pkt.layers:
                if layer.name in ("TCP", "UDP"):
                    key = _conv_key(pkt.ip_proto, (pkt.src, pkt.sport), (pkt.dst, pkt.dport))
                    sizes[key] = sizes.get(key, 0) + layer.length
    return sizes


def ch_tcp_udp(console: Console, lang: str) -> None:
    path = data_path("tour-udp.pcap")
    a = analyze(path, keep_udp=lambda n: True)
    headers = _transport_header_bytes(path)

    def hdr(proto: int, x: tuple[str, int], y: tuple[str, int]) -> int:
        return headers.get(_conv_key(proto, x, y), 0)

    _say(console, lang,
         "TCP against UDP in one capture. UDP: no connection, no handshake, an 8-byte header, "
         "and every datagram keeps its boundaries. TCP: a connection with a handshake, a 20-60 "
         "byte header, and a byte stream that does not keep the application's writes apart.",
         "同一个抓包里的 TCP 与 UDP。UDP: 无连接, 无握手, 8 字节首部, 每个数据报保留自己的边界。"
         "TCP: 面向连接, 有握手, 20-60 字节首部, 是字节流, 不保留应用程序每次写入的边界。")
    table = Table(header_style="bold")
    for col in ("proto", "stream", "client → server", "packets", "payload bytes",
                "header bytes", "what"):
        table.add_column(col)
    for u in a.udp:
        sizes = ", ".join(str(s) for s in (u.sizes or [])[:12])
        what = (f"one-to-many ({u.one_to_many})" if u.one_to_many else "one-to-one")
        what += f"; datagram sizes kept: {sizes}"
        h = hdr(17, u.client, u.server)
        table.add_row("udp", str(u.stream), clean(f"{u.client[0]}:{u.client[1]} → "
                                                  f"{u.server[0]}:{u.server[1]}"),
                      str(u.packets), str(u.bytes_c2s + u.bytes_s2c),
                      f"{h} ({h // max(u.packets, 1)} each)", clean(what))
    for c in a.tcp:
        h = hdr(6, (c.client.ip, c.client.port), (c.server.ip, c.server.port))
        table.add_row("tcp", str(c.stream),
                      clean(f"{c.client.ip}:{c.client.port} → {c.server.ip}:{c.server.port}"),
                      str(c.packets), str(c.bytes_c2s + c.bytes_s2c),
                      f"{h} ({h / max(c.packets, 1):.0f} on average)",
                      f"{word(c.handshake['state'], lang)}; {word(c.close['kind'], lang)}")
    console.print(table)


def ch_isn(console: Console, lang: str) -> None:
    a = analyze(data_path("tour-isn.pcap"))
    _say(console, lang,
         "Initial sequence numbers are random (RFC 9293 §3.4.1, RFC 6528): four connections "
         "between the same two programs, each starting somewhere else. Wireshark shows them as "
         "relative 0 so they are easy to read.",
         "初始序列号 ISN 是随机的 (RFC 9293 §3.4.1, RFC 6528): 同样两个程序之间的四个连接, "
         "每个都从不同的地方开始。Wireshark 把它们显示为相对值 0, 便于阅读。")
    table = Table(header_style="bold")
    for col in ("stream", "client port", "client ISN (x)", "server ISN (y)"):
        table.add_column(col, justify="right")
    for c in a.tcp:
        table.add_row(str(c.stream), str(c.client.port), str(c.handshake["client_isn"]),
                      str(c.handshake["server_isn"]))
    console.print(table)


def ch_handshake(console: Console, lang: str) -> None:
    _a, ladder = _ladder(data_path("tour-tcp.pcap"), 0, lang)
    hs = [s for s in ladder.steps if s.phase == "handshake"]
    _say(console, lang,
         "The three-way handshake with its real numbers: SYN(Seq=x, Ack=0), "
         "SYN+ACK(Seq=y, Ack=x+1), ACK(Seq=x+1, Ack=y+1).",
         "三次握手的真实数字: SYN(Seq=x, Ack=0), SYN+ACK(Seq=y, Ack=x+1), ACK(Seq=x+1, Ack=y+1)。")
    if len(hs) >= 3:
        x, y = hs[0].seq_raw, hs[1].seq_raw
        _say(console, lang,
             f"x = {x}, y = {y}: SYN+ACK acks x+1 = {hs[1].ack_raw}; the ACK has "
             f"Seq = x+1 = {hs[2].seq_raw} and Ack = y+1 = {hs[2].ack_raw}.",
             f"x = {x}, y = {y}: SYN+ACK 确认 x+1 = {hs[1].ack_raw}; 第三次握手 "
             f"Seq = x+1 = {hs[2].seq_raw}, Ack = y+1 = {hs[2].ack_raw}。")
    render_ladder(_sub_ladder(ladder, {"handshake"}), console, absolute=True)
    render_ladder(_sub_ladder(ladder, {"handshake"}), console, absolute=False, notes=False)


def ch_data(console: Console, lang: str) -> None:
    _a, ladder = _ladder(data_path("tour-tcp.pcap"), 0, lang)
    _say(console, lang,
         "Seq and Ack move with the data: each side's Seq grows by the bytes it sends, and the "
         "other side's Ack names the next byte it expects.",
         "Seq 和 Ack 随数据移动: 每一方的 Seq 按发送的字节数增长, "
         "对方的 Ack 指出期望的下一个字节。")
    render_ladder(_sub_ladder(ladder, {"data"}), console)


def ch_close(console: Console, lang: str) -> None:
    _a, ladder = _ladder(data_path("tour-tcp.pcap"), 0, lang)
    _say(console, lang,
         "The four-way close: FIN(Seq=u), ACK(Ack=u+1), FIN(Seq=w), ACK(Ack=w+1). Each "
         "direction is closed on its own; the side that closes first waits in TIME_WAIT.",
         "四次挥手: FIN(Seq=u), ACK(Ack=u+1), FIN(Seq=w), ACK(Ack=w+1)。"
         "两个方向各自关闭; 先关闭的一方进入 TIME_WAIT。")
    render_ladder(_sub_ladder(ladder, {"close"}), console)


def ch_reset(console: Console, lang: str) -> None:
    path = data_path("tour-reset.pcap")
    a = analyze(path, keep_tcp=lambda n: True)
    _say(console, lang,
         "Resets: a SYN to a port where nobody listens is answered by RST; a program can also "
         "abort a connection with RST instead of the FIN exchange.",
         "重置: 发往无人监听端口的 SYN 会收到 RST; 程序也可以用 RST 中止连接, 而不是交换 FIN。")
    for st in a.kept.values():
        render_ladder(build_ladder(st, a.tcp[st.number], lang), console)


def _tls_ladder(name: str, console: Console, lang: str) -> Any:
    """The TLS part of the shipped capture's ladder, and its session."""
    path = data_path(name)
    a = analyze(path, keep_tcp=lambda n: n == 0)
    st = a.kept[0]
    summary = a.tcp[0]
    ladder = build_ladder(st, summary, lang)
    tls_steps = [s for s in ladder.steps if s.phase == "tls" or (
        s.phase == "data" and s.len == 0 and ladder.steps.index(s) > 2)]
    first = next((i for i, s in enumerate(ladder.steps) if s.phase == "tls"), 0)
    shown = [s for s in ladder.steps[first:] if s in tls_steps][:14]
    render_ladder(Ladder(ladder.stream, ladder.client, ladder.server, shown, ladder.summary,
                         lang, []), console)
    return summary.tls


def _session_line(session: Any, console: Console, lang: str) -> None:
    if session is None:
        return
    fs = session.forward_secrecy
    console.print(Text(clean(
        f"{session.version} · {session.cipher_suite_name} · {session.key_exchange}"
        + (f" · {session.group}" if session.group else "")
        + (" · forward secrecy" if fs else " · no forward secrecy" if fs is False else "")),
        style="bold"))
    console.print(Text(clean(session.forward_secrecy_text(lang)), style="dim"))


def ch_tls12_rsa(console: Console, lang: str) -> None:
    _say(console, lang,
         "TLS 1.2 with RSA key exchange, between OpenSSL peers on this machine: Client Hello, "
         "Server Hello, Certificate, Server Hello Done, then Client Key Exchange carrying the "
         "pre-master secret encrypted with the server's RSA public key, Change Cipher Spec, "
         "Finished, each way.",
         "TLS 1.2 + RSA 密钥交换 (本机上的 OpenSSL 双方): Client Hello、Server Hello、Certificate、"
         "Server Hello Done, 然后 Client Key Exchange 发送用服务器 RSA 公钥加密的预主密钥, "
         "再各自 Change Cipher Spec、Finished。")
    _session_line(_tls_ladder("tour-tls12-rsa.pcap", console, lang), console, lang)


def ch_tls12_ecdhe(console: Console, lang: str) -> None:
    _say(console, lang,
         "TLS 1.2 with ECDHE: the same, plus a Server Key Exchange with the curve, the server's "
         "fresh public key and a signature; the Client Key Exchange carries the client's fresh "
         "public key. Both sides compute the secret; it never travels.",
         "TLS 1.2 + ECDHE: 同样的流程, 多了 Server Key Exchange (曲线、服务器临时公钥和签名); "
         "Client Key Exchange 发送客户端的临时公钥。双方各自算出密钥, 密钥从不在网络上传送。")
    _session_line(_tls_ladder("tour-tls12-ecdhe.pcap", console, lang), console, lang)


def ch_tls13(console: Console, lang: str) -> None:
    _say(console, lang,
         "TLS 1.3: the key share rides in the Client Hello and the Server Hello, so one round "
         "trip is enough; everything after the Server Hello is encrypted.",
         "TLS 1.3: 密钥共享直接放在 Client Hello 和 Server Hello 里, 一个来回就够了; "
         "Server Hello 之后的一切都是加密的。")
    _session_line(_tls_ladder("tour-tls13.pcap", console, lang), console, lang)


def ch_rsa_vs_ecdhe(console: Console, lang: str) -> None:
    from handshaker.tls.keys import load_rsa_key
    from handshaker.tls.opener import KeyRing

    _say(console, lang,
         "Why the server's RSA key opens the RSA session and not the ECDHE one: with RSA key "
         "exchange the pre-master secret is on the wire, encrypted with that key; with ECDHE "
         "only public keys are on the wire, and the private halves were thrown away. Each "
         "capture is decrypted twice here: with the RSA server's private key alone, and with "
         "the key log the client wrote.",
         "为什么服务器的 RSA 私钥能解开 RSA 会话, 却解不开 ECDHE 会话: RSA 密钥交换时, "
         "预主密钥用这把公钥加密后就在线路上; ECDHE 时线路上只有公钥, 对应的私钥用完就丢了。"
         "下面每个抓包解密两次: 只用 RSA 服务器的私钥, 以及用客户端写下的密钥日志 (key log)。")
    table = Table(header_style="bold")
    zh = lang == ZH
    cols = ("抓包文件", "密钥交换", "只用 RSA 私钥", "密钥日志") if zh else \
        ("capture", "key exchange", "RSA key alone", "key log")
    for col in cols:
        table.add_column(col)
    key = load_rsa_key(data_path("tour-tls12-rsa.key.pem"))
    why: list[str] = []
    first_line = ""
    for name in ("tour-tls12-rsa", "tour-tls12-ecdhe", "tour-tls13"):
        cells = []
        for how, ring in (("RSA 私钥" if zh else "the RSA key", KeyRing(rsa_keys=[key])),
                          ("密钥日志" if zh else "the key log", KeyRing())):
            if not ring.rsa_keys:
                ring.keylog.add_file(data_path(f"{name}.keylog"))
            session = _decrypted(data_path(f"{name}.pcap"), ring)
            dec = session.decryption if session is not None else None
            if dec is not None and dec.ok:
                cells.append("解开" if zh else "opened")
                first = next((data for d, _, _, data in session.data
                              if d == session.client_dir), b"")
                first_line = first_line or first.split(b"\r\n", 1)[0].decode("ascii",
                                                                               "replace")
            else:
                cells.append("解不开" if zh else "not opened")
                reason = (dec.reason_zh if lang == ZH else dec.reason) if dec else "?"
                why.append(f"{name}.pcap, {how}: {reason}")
        kx = session.key_exchange if session is not None else "?"
        table.add_row(f"{name}.pcap", kx or "?", *cells)
    console.print(table)
    if first_line:
        _say(console, lang, f"What the client sent, decrypted: {clean(first_line)}",
             f"解密后, 客户端发出的第一行: {clean(first_line)}")
    for line in why:
        console.print(Text(clean(line), style="dim"))


def _decrypted(path: Path, ring: Any) -> Any:
    a = analyze(path, keys=ring)
    return a.tcp[0].tls if a.tcp else None


@dataclass(frozen=True)
class Chapter:
    name: str
    title_en: str
    title_zh: str
    run: Callable[[Console, str], None]


CHAPTERS = (
    Chapter("layers", "One packet, layer by layer", "一个数据包, 逐层拆开", ch_layers),
    Chapter("tcp-udp", "TCP against UDP", "TCP 与 UDP", ch_tcp_udp),
    Chapter("isn", "Random initial sequence numbers", "随机的初始序列号", ch_isn),
    Chapter("handshake", "The three-way handshake", "三次握手", ch_handshake),
    Chapter("data", "Seq/Ack moving with the data", "Seq/Ack 随数据移动", ch_data),
    Chapter("close", "The four-way close", "四次挥手", ch_close),
    Chapter("reset", "Resets", "重置 (RST)", ch_reset),
    Chapter("tls12-rsa", "TLS 1.2 with RSA key exchange", "TLS 1.2 (RSA 密钥交换)", ch_tls12_rsa),
    Chapter("tls12-ecdhe", "TLS 1.2 with ECDHE", "TLS 1.2 (ECDHE)", ch_tls12_ecdhe),
    Chapter("tls13", "TLS 1.3", "TLS 1.3", ch_tls13),
    Chapter("rsa-vs-ecdhe", "RSA against ECDHE: forward secrecy", "RSA 与 ECDHE: 前向保密",
            ch_rsa_vs_ecdhe),
)


def run_tour(console: Console, lang: str = "en", chapter: str | None = None,
             pause: bool = True) -> int:
    chosen = list(CHAPTERS)
    if chapter:
        chosen = [c for i, c in enumerate(CHAPTERS, 1) if chapter in (c.name, str(i))]
        if not chosen:
            from handshaker.errors import UsageError

            names = ", ".join(c.name for c in CHAPTERS)
            raise UsageError(f"no chapter {chapter!r}; chapters: {names}")
    interactive = pause and sys.stdin.isatty() and console.is_terminal
    for i, ch in enumerate(chosen, 1):
        title = ch.title_zh if lang == ZH else ch.title_en
        console.print(Rule(f"{i}. {title}"))
        ch.run(console, lang)
        if interactive and i < len(chosen):
            console.input("[dim]Enter ↵[/dim] ")
    return 0
