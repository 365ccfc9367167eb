"""The layers view: one packet taken apart, header by header.

``handshaker layers FILE --frame N`` draws the OSI seven layers and the TCP/IP
four side by side, puts each header of the packet in its row with its size in
bytes, shows how the frame's bytes divide between the headers, then lists every
field of every header. ``--format json`` gives :func:`layers_json`.

Everything shown comes from :class:`~handshaker.dissect.packet.Packet`; this
module only draws it. Strings that come from the packet are untrusted: they go
through :func:`clean` (control characters and ANSI escapes removed) and
:func:`rich.markup.escape` before they reach the console.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from handshaker.capture.model import LINKTYPE_NAMES
from handshaker.dissect.columns import halves_to_ip
from handshaker.dissect.packet import (
    HEADER_SIZES,
    OSI_LAYERS,
    STATUS_NAMES,
    TCPIP_LAYERS,
    Field,
    Layer,
    Packet,
    TcpOption,
)

__all__ = ["clean", "layers_json", "render_layers"]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean(s: str) -> str:
    """Remove ANSI escape sequences, control and bidi characters from untrusted text."""
    return _CONTROL.sub("", _ANSI.sub("", s))


def _safe(s: str) -> str:
    """Untrusted text, ready for a rich markup string."""
    return escape(clean(s))


# --------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------

OSI_NAMES = {
    "en": OSI_LAYERS,
    "zh": {7: "应用层", 6: "表示层", 5: "会话层", 4: "传输层", 3: "网络层", 2: "数据链路层",
           1: "物理层"},
}
TCPIP_NAMES = {
    "en": {"Application": "Application", "Transport": "Transport", "Internet": "Internet",
           "Link": "Link"},
    "zh": {"Application": "应用层", "Transport": "传输层", "Internet": "网际层",
           "Link": "网络接口层"},
}
LAYER_NAMES_ZH = {
    "Ethernet II": "以太网 II", "IEEE 802.3": "IEEE 802.3 以太网", "BSD loopback": "BSD 回环",
    "Linux cooked capture v1": "Linux 伪链路头 v1 (SLL)",
    "Linux cooked capture v2": "Linux 伪链路头 v2 (SLL2)", "Payload": "载荷 (应用数据)",
    "Padding": "填充", "IPv6 Hop-by-Hop": "IPv6 逐跳选项", "IPv6 Routing": "IPv6 路由",
    "IPv6 Fragment": "IPv6 分片", "IPv6 Destination Options": "IPv6 目的选项",
}
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "frame": "Frame {n}", "on_wire": "{w} bytes on the wire, {c} captured",
        "osi": "OSI model (7 layers)", "tcpip": "TCP/IP model (4 layers)",
        "headers": "Headers in this packet", "bytes": "Bytes", "range": "Usual size",
        "models": "Where each header sits", "map": "The frame, byte by byte",
        "not_captured": "not captured (preamble, SFD, signal)",
        "no_link": "no link header in this capture (raw IP)",
        "in_payload": "within the payload above",
        "none": "—", "offset": "Offset", "size": "Size", "field": "Field", "value": "Value",
        "problems": "Problems", "status": "Status", "hdr_title": "{name}: {size} bytes",
        "hdr_where": "offset {off} · TCP/IP {tcpip} · OSI {osi}",
        "truncated": "cut by the capture: {c} of {size} bytes captured",
        "always": "always {n} B", "between": "{a}–{b} B",
        "extra_opts": "{n} B of options", "bit": "bit", "bits": "bits",
        "sizes_note": "Header sizes: TCP 20–60 B vs UDP always 8 B; IPv4 20–60 B vs IPv6 "
                      "always 40 B (+ extension headers).",
    },
    "zh": {
        "frame": "第 {n} 帧", "on_wire": "线路上 {w} 字节, 抓到 {c} 字节",
        "osi": "OSI 七层模型", "tcpip": "TCP/IP 四层模型",
        "headers": "本包中的首部", "bytes": "字节", "range": "常见大小",
        "models": "每个首部所在的层", "map": "整帧的字节分布",
        "not_captured": "不在抓包中 (前导码、帧起始符、信号)",
        "no_link": "此抓包没有链路层首部 (原始 IP)",
        "in_payload": "包含在上面的载荷中",
        "none": "—", "offset": "偏移", "size": "长度", "field": "字段", "value": "值",
        "problems": "问题", "status": "状态", "hdr_title": "{name}: {size} 字节",
        "hdr_where": "偏移 {off} · TCP/IP {tcpip} · OSI {osi}",
        "truncated": "被抓包截断: 只抓到 {size} 字节中的 {c} 字节",
        "always": "固定 {n} 字节", "between": "{a}–{b} 字节",
        "extra_opts": "含 {n} 字节选项", "bit": "位", "bits": "位",
        "sizes_note": "首部大小: TCP 20–60 字节, UDP 固定 8 字节; IPv4 20–60 字节, "
                      "IPv6 固定 40 字节 (另加扩展首部)。",
    },
}

#: a colour per TCP/IP layer, used in the model table, the byte map and the field tables
STYLE = {"Application": "magenta", "Transport": "green", "Internet": "cyan", "Link": "yellow"}


def _w(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["en"])


def _layer_name(layer: Layer, lang: str) -> str:
    name = clean(layer.name)
    if lang == "zh":
        return LAYER_NAMES_ZH.get(name, name)
    return name


def _osi_text(osi: tuple[int, ...]) -> str:
    nums = sorted(osi)
    return str(nums[0]) if len(nums) == 1 else f"{nums[0]}–{nums[-1]}"


def _size_note(layer: Layer, lang: str) -> str:
    w = _w(lang)
    rng = HEADER_SIZES.get(layer.key)
    if rng is None:
        return ""
    lo, hi = rng
    note = w["always"].format(n=lo) if lo == hi else w["between"].format(a=lo, b=hi)
    if layer.key in ("ip", "tcp") and layer.length > lo:
        note += ", " + w["extra_opts"].format(n=layer.length - lo)
    return note


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------


def render_layers(packet: Packet, *, console: Console, lang: str = "en") -> None:
    """Print the layers view of one packet."""
    w = _w(lang)
    console.print(_title(packet, lang))
    console.print(_models_table(packet, lang, wide=console.width >= 100))
    console.print(Text(w["sizes_note"], style="dim"))
    console.print(_byte_map(packet, lang, width=max(16, min(96, console.width - 2))))
    for layer in packet.layers:
        console.print()
        console.print(_fields_heading(layer, lang, packet.frame.caplen))
        console.print(_fields_table(layer, lang))
    if packet.problems:
        body = "\n".join(f"• {_safe(p)}" for p in packet.problems)
        console.print(Panel(body, title=w["problems"], border_style="red", expand=False))


def _title(packet: Packet, lang: str) -> Panel:
    w = _w(lang)
    f = packet.frame
    link = LINKTYPE_NAMES.get(f.linktype, str(f.linktype))
    head = (f"[bold]{escape(w['frame'].format(n=f.number))}[/bold] · "
            f"{escape(w['on_wire'].format(w=f.wirelen, c=f.caplen))} · {escape(link)}")
    stack = " / ".join(_safe(_layer_name(lay, lang)) for lay in packet.layers)
    lines = [head, stack, f"[dim]{_safe(packet.summary_text())}[/dim]"]
    status = STATUS_NAMES.get(packet.status, str(packet.status))
    if status != "ok":
        lines.append(f"[red]{escape(w['status'])}: {escape(status)}[/red]")
    return Panel("\n".join(lines), expand=False)


def _models_table(packet: Packet, lang: str, *, wide: bool = True) -> Table:
    """OSI 7 left, TCP/IP 4 right, this packet's headers in the rows they belong to."""
    w = _w(lang)
    osi_names = OSI_NAMES.get(lang, OSI_NAMES["en"])
    tcpip_names = TCPIP_NAMES.get(lang, TCPIP_NAMES["en"])
    table = Table(title=w["models"], show_lines=False, header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column(w["osi"], no_wrap=True)
    table.add_column(w["headers"])
    table.add_column(w["bytes"], no_wrap=True)
    if wide:
        table.add_column(w["range"], style="dim", no_wrap=True)
    table.add_column(w["tcpip"])

    by_row: dict[int, list[Layer]] = {n: [] for n in range(1, 8)}
    spans: dict[int, Layer] = {}
    for layer in packet.layers:
        top = max(layer.osi_layers)
        by_row[top].append(layer)
        for n in layer.osi_layers:
            if n != top:
                spans.setdefault(n, layer)
    has_link = any(lay.tcpip_layer == "Link" for lay in packet.layers)
    for tcpip, osi_rows in TCPIP_LAYERS.items():
        style = STYLE[tcpip]
        middle = osi_rows[len(osi_rows) // 2]
        for n in osi_rows:
            names, sizes, notes = [], [], []
            for layer in by_row[n]:
                names.append(f"[bold {style}]{_safe(_layer_name(layer, lang))}[/]")
                bar = _size_bar(layer.length)
                sizes.append(f"[bold]{layer.length:>5}[/bold] [{style}]{bar}[/]")
                notes.append(escape(_size_note(layer, lang)))
            if not by_row[n]:
                if n in spans:
                    names.append(f"[dim]┊ {escape(w['in_payload'])}[/dim]")
                elif n == 1:
                    names.append(f"[dim]{escape(w['not_captured'])}[/dim]")
                elif n == 2 and not has_link and packet.layers:
                    names.append(f"[dim]{escape(w['no_link'])}[/dim]")
                else:
                    names.append(f"[dim]{w['none']}[/dim]")
            label = f"[bold {style}]{escape(tcpip_names[tcpip])}[/]" if n == middle else ""
            cells = [str(n), f"[{style}]{escape(osi_names[n])}[/]", "\n".join(names),
                     "\n".join(sizes)]
            if wide:
                cells.append("\n".join(notes))
            table.add_row(*cells, label, end_section=n == osi_rows[-1])
    return table


def _size_bar(n: int) -> str:
    """One cell per 4 bytes, on the same scale for every packet (20 B = 5 cells)."""
    cells = -(-n // 4)
    return "█" * min(cells, 16) + ("…" if cells > 16 else "")


def _byte_map(packet: Packet, lang: str, width: int = 96) -> Group:
    """One bar for the frame: each header's share of its bytes, labelled."""
    w = _w(lang)
    total = max(packet.frame.caplen, 1)
    parts = []
    for layer in packet.layers:
        captured = max(0, min(layer.length, packet.frame.caplen - layer.offset))
        if captured:
            parts.append((layer, captured))
    bar = Text()
    legend = Text()
    for i, (layer, n) in enumerate(parts):
        style = STYLE.get(layer.tcpip_layer, "white")
        cells = max(1, round(width * n / total))
        bar.append(("█", "▒")[i % 2] * cells, style=style)  # told apart without colour too
        legend.append(f"■ {clean(_layer_name(layer, lang))} {n}  ", style=style)
    return Group(Text(w["map"] + f" ({packet.frame.caplen})", style="bold"), bar, legend)


def _fmt_offset(f: Field) -> str:
    return f"{f.offset}" + (f".{f.bit_offset}" if f.bit_offset else "")


def _fmt_size(f: Field, lang: str) -> str:
    w = _w(lang)
    if f.bits % 8 == 0 and f.bit_offset == 0:
        return f"{f.bits // 8} B"
    return f"{f.bits} {w['bit'] if f.bits == 1 else w['bits']}"


def _fields_heading(layer: Layer, lang: str, caplen: int) -> str:
    w = _w(lang)
    style = STYLE.get(layer.tcpip_layer, "white")
    tcpip = TCPIP_NAMES.get(lang, TCPIP_NAMES["en"])[layer.tcpip_layer]
    osi_names = OSI_NAMES.get(lang, OSI_NAMES["en"])
    osi = _osi_text(layer.osi_layers) + " " + "/".join(
        osi_names[n] for n in sorted(layer.osi_layers, reverse=True))
    head = w["hdr_title"].format(name=_layer_name(layer, lang), size=layer.length)
    where = w["hdr_where"].format(off=layer.offset, tcpip=tcpip, osi=osi)
    out = f"[bold {style}]{escape(head)}[/]  [dim]{escape(where)}[/dim]"
    if layer.truncated:
        got = max(0, min(layer.length, caplen - layer.offset))
        out += f"\n[red]{escape(w['truncated'].format(c=got, size=layer.length))}[/red]"
    return out


def _fields_table(layer: Layer, lang: str) -> Table:
    w = _w(lang)
    table = Table(header_style="bold", expand=False)
    table.add_column(w["offset"], justify="right", style="dim")
    table.add_column(w["size"], justify="right", style="dim")
    table.add_column(w["field"])
    table.add_column(w["value"], overflow="fold")
    for f in layer.fields:
        name = ("  └ " if f.level else "") + f.name
        table.add_row(_fmt_offset(f), _fmt_size(f, lang), _safe(name), _safe(f.value))
    return table


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def _raw(v: int | bytes) -> int | str:
    return v.hex() if isinstance(v, bytes) else v


def _opt_value(o: TcpOption) -> Any:
    v = o.value
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, tuple):
        return [list(x) if isinstance(x, tuple) else x for x in v]
    return v


def layers_json(packet: Packet) -> dict[str, Any]:
    """The layers view as plain data (``--format json``): snake_case keys, numbers as numbers."""
    f = packet.frame
    s = packet.summary
    return {
        "frame": f.number,
        "ts_ns": f.ts_ns,
        "linktype": f.linktype,
        "linktype_name": LINKTYPE_NAMES.get(f.linktype),
        "wirelen": f.wirelen,
        "caplen": f.caplen,
        "status": STATUS_NAMES.get(s["status"], str(s["status"])),
        "info": packet.summary_text(),
        "src": halves_to_ip(s["src_hi"], s["src_lo"]) if s["l3"] else None,
        "dst": halves_to_ip(s["dst_hi"], s["dst_lo"]) if s["l3"] else None,
        "summary": {k: int(v) for k, v in s.items()},
        "layers": [
            {
                "key": lay.key,
                "name": lay.name,
                "offset": lay.offset,
                "length": lay.length,
                "truncated": lay.truncated,
                "tcpip_layer": lay.tcpip_layer.lower(),
                "osi_layers": sorted(lay.osi_layers),
                "fields": [
                    {"key": fl.key, "name": fl.name, "value": fl.value, "raw": _raw(fl.raw),
                     "offset": fl.offset, "bits": fl.bits, "bit_offset": fl.bit_offset,
                     "level": fl.level}
                    for fl in lay.fields
                ],
            }
            for lay in packet.layers
        ],
        "tcp_options": [
            {"kind": o.kind, "name": o.name, "offset": o.offset, "length": o.length,
             "value": _opt_value(o)}
            for o in packet.tcp_options
        ],
        "problems": list(packet.problems),
    }
