"""The layers view: both layer models, header sizes, escaping, JSON."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from conftest import CORPUS, read_frames, require
from rich.console import Console
from test_dissect_packet import eth, ipv4, ipv6, tcp, udp

from handshaker.capture.model import Frame
from handshaker.dissect.columns import ACK, PSH
from handshaker.dissect.packet import Field, Layer, Packet, decode
from handshaker.render.layers import clean, layers_json, render_layers


def corpus_frame(rel: str, number: int) -> Frame:
    path = CORPUS / rel
    require(path.is_file(), f"corpus file {rel} not found")
    for f in read_frames(path):
        if f.number == number:
            return f
    raise AssertionError(f"{rel} has no frame {number}")


def render(packet: Packet, lang: str = "en") -> str:
    console = Console(record=True, width=120, file=io.StringIO(), color_system=None)
    render_layers(packet, console=console, lang=lang)
    return console.export_text()


def model_row(text: str, osi: int) -> str:
    """The line(s) of the model table for one OSI layer number."""
    rows = [ln for ln in text.splitlines() if re.match(rf"^│ {osi} │", ln)]
    assert rows, f"no row for OSI layer {osi}"
    return rows[0]


def sized(name: str, n: int, note: str = "") -> str:
    """Regex for a model-table row: the header's name, its size in bytes and bar, the note."""
    return rf"{re.escape(name)}\s.*│\s+{n} █+…?\s*│ {re.escape(note)}"


def test_tcp_frame_from_corpus() -> None:
    pk = decode(corpus_frame("ja4/macos_tcp_flags.pcap", 1))  # SYN with 24 B of options
    text = render(pk)
    for name in ("Application", "Presentation", "Session", "Transport", "Network", "Data link",
                 "Physical", "Internet", "Link"):
        assert name in text
    assert re.search(sized("TCP", 44, "20–60 B, 24 B of options"), model_row(text, 4))
    assert re.search(sized("IPv4", 20, "20–60 B"), model_row(text, 3))
    assert re.search(sized("Ethernet II", 14, "always 14 B"), model_row(text, 2))
    assert "not captured" in model_row(text, 1)
    # every field of every header, with its value
    for label in ("Time to live", "Identification", "Don't fragment (DF)", "Window",
                  "Option: Maximum Segment Size", "TSval", "Option: Window Scale",
                  "Urgent pointer", "AE (was NS)"):
        assert label in text
    assert "TCP: 44 bytes" in text and "1460" in text


def test_udp_frame_from_corpus() -> None:
    pk = decode(corpus_frame("tcpdump/dns_udp.pcap", 1))
    text = render(pk)
    assert re.search(sized("UDP", 8, "always 8 B"), model_row(text, 4))
    assert re.search(sized("Payload", 56), model_row(text, 7))
    assert "within the payload above" in model_row(text, 6)
    assert "UDP: 8 bytes" in text


def test_ipv6_header_is_40_bytes() -> None:
    pk = decode(corpus_frame("ja4/tls-alpn-h2.pcap", 1))  # BSD null + IPv6 + TCP
    text = render(pk)
    assert re.search(sized("IPv6", 40, "always 40 B"), model_row(text, 3))
    assert re.search(sized("BSD loopback", 4, "always 4 B"), model_row(text, 2))


def test_chinese_labels() -> None:
    pk = decode(corpus_frame("ja4/macos_tcp_flags.pcap", 1))
    text = render(pk, "zh")
    for name in ("应用层", "表示层", "会话层", "传输层", "网络层", "数据链路层", "物理层",
                 "网际层", "网络接口层", "OSI 七层模型", "TCP/IP 四层模型"):
        assert name in text
    assert re.search(sized("TCP", 44, "20–60 字节"), model_row(text, 4))


def test_payload_with_markup_and_escapes_is_harmless() -> None:
    payload = b"[bold red]pwn[/] \x1b[31mRED\x1b[0m \x07\x9b"
    f = Frame(1, 0, 1, eth(0x0800, ipv4(tcp(flags=PSH | ACK, data=payload))), 0)
    f = Frame(1, 0, 1, f.data, len(f.data))
    out = io.StringIO()
    console = Console(record=True, width=120, file=out, force_terminal=True,
                      color_system="truecolor")
    render_layers(decode(f), console=console)
    raw = out.getvalue()
    assert "\x1b[31mRED" not in raw and "\x07" not in raw
    text = console.export_text()
    assert "[bold red]pwn[/]" in text  # shown literally, not interpreted


def test_untrusted_field_values_are_escaped() -> None:
    """Any string that reaches the view is cleaned and escaped, whatever the decoder made."""
    evil = "[red]x[/red]\x1b[2J\x1b]0;title\x07\x00\u202e"
    f = Frame(1, 0, 1, b"\x00" * 14, 14)
    base = decode(f)
    layer = Layer("eth", "Ethernet II", 0, 14, "Link", (2,),
                  (Field("eth.dst", evil, evil, b"\x00", 0, 48),))
    pk = Packet(f, base.summary, (layer,), (), (evil,))
    out = io.StringIO()
    console = Console(record=True, width=120, file=out, force_terminal=True)
    render_layers(pk, console=console)
    raw = out.getvalue()
    for bad in ("\x1b[2J", "\x1b]0;", "\x07", "\x00", "\u202e"):
        assert bad not in raw
    assert console.export_text().count("[red]x[/red]") >= 3  # field name, value, problem
    assert clean(evil) == "[red]x[/red]"


def _keys(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [k for k in obj] + [k2 for v in obj.values() for k2 in _keys(v)]
    if isinstance(obj, list):
        return [k for v in obj for k in _keys(v)]
    return []


def test_layers_json() -> None:
    pk = decode(corpus_frame("ja4/macos_tcp_flags.pcap", 1))
    doc = layers_json(pk)
    json.dumps(doc)  # plain data
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k) for k in _keys(doc) if k not in
               doc["summary"])
    assert doc["frame"] == 1 and doc["status"] == "ok"
    assert [(lay["name"], lay["length"], lay["tcpip_layer"], lay["osi_layers"])
            for lay in doc["layers"]] == [("Ethernet II", 14, "link", [2]),
                                          ("IPv4", 20, "internet", [3]),
                                          ("TCP", 44, "transport", [4])]
    tcp_fields = {f["key"]: f for f in doc["layers"][2]["fields"]}
    assert tcp_fields["tcp.window_size_value"]["raw"] == 65535
    assert isinstance(tcp_fields["tcp.option.mss"]["raw"], str)  # bytes as hex
    opts = {o["name"]: o["value"] for o in doc["tcp_options"]}
    assert opts["mss"] == 1460 and opts["window_scale"] == 6 and opts["sack_permitted"] is None
    assert isinstance(opts["timestamps"], list) and opts["timestamps"][1] == 0
    assert doc["summary"]["sport"] == 61311 and doc["src"] == "172.16.5.16"


def test_json_and_view_for_odd_frames() -> None:
    """Truncated, malformed, non-IP and unsupported frames render without error."""
    frames = [
        Frame(1, 0, 1, eth(0x0800, ipv4(tcp()))[:40], 60),
        Frame(2, 0, 1, eth(0x0800, ipv4(tcp(offset=2))), 54),
        Frame(3, 0, 1, eth(0x86DD, ipv6(udp(b"x"), nxt=17)), 63),
        Frame(4, 0, 1, eth(0x0806, bytes(28)), 42),
        Frame(5, 0, 274, b"\x01\x02", 2),
        Frame(6, 0, 101, b"", 0),
    ]
    for f in frames:
        pk = decode(f)
        assert render(pk)
        assert render(pk, "zh")
        json.dumps(layers_json(pk))
    text = render(decode(frames[0]))
    assert "truncated" in text and "cut by the capture" in text
