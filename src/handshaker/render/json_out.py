"""The JSON contract (docs/json.md): plain dicts from the analysis models.

Numbers stay numbers; names are snake_case; frames are numbered from 1 and
streams as Wireshark's tcp.stream / udp.stream.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

import orjson

from handshaker.analysis import Analysis, Renderer
from handshaker.capture.model import LINKTYPE_NAMES
from handshaker.flow.tcp import TcpSummary
from handshaker.flow.udp import UdpConversation

SCHEMA_VERSION = 1


def tcp_dict(c: TcpSummary) -> dict[str, Any]:
    return {
        "proto": "tcp",
        "stream": c.stream,
        "client": c.client.as_dict(),
        "server": c.server.as_dict(),
        "role_guess": c.role_guess,
        "first_frame": c.first_frame,
        "last_frame": c.last_frame,
        "start_time": c.first_ts_ns / 1e9,
        "duration": (c.last_ts_ns - c.first_ts_ns) / 1e9,
        "packets": c.packets,
        "packets_dir": {"c2s": c.packets_c2s, "s2c": c.packets_s2c},
        "bytes": {"c2s": c.bytes_c2s, "s2c": c.bytes_s2c},
        "wire_bytes": {"c2s": c.wire_bytes_c2s, "s2c": c.wire_bytes_s2c},
        "handshake": c.handshake,
        "close": c.close,
        "conn_state": c.conn_state,
        "history": c.history,
        "options": c.options,
        "anomalies": c.anomalies,
        "tls": None if c.tls is None else tls_brief(c.tls),
    }


def tls_brief(s: Any) -> dict[str, Any]:
    """The `tls` object of a connection in `analyze`: the session without its
    message list, certificates and offered lists (see `handshaker tls`)."""
    return s.as_dict(brief=True)


def udp_conn_state(u: UdpConversation) -> tuple[str, str]:
    """Zeek's conn_state and history for UDP: S0 one way, SF both ways."""
    hist = ("D" if u.packets_c2s else "") + ("d" if u.packets_s2c else "")
    return ("SF" if u.packets_c2s and u.packets_s2c else "S0"), hist


def udp_dict(u: UdpConversation) -> dict[str, Any]:
    state, hist = udp_conn_state(u)
    return {
        "proto": "udp",
        "stream": u.stream,
        "client": {"ip": u.client[0], "port": u.client[1]},
        "server": {"ip": u.server[0], "port": u.server[1]},
        "role_guess": "UDP has no handshake: the first sender is taken as the client",
        "first_frame": u.first_frame,
        "last_frame": u.last_frame,
        "start_time": u.first_ts_ns / 1e9,
        "duration": (u.last_ts_ns - u.first_ts_ns) / 1e9,
        "packets": u.packets,
        "packets_dir": {"c2s": u.packets_c2s, "s2c": u.packets_s2c},
        "bytes": {"c2s": u.bytes_c2s, "s2c": u.bytes_s2c},
        "wire_bytes": {"c2s": u.wire_bytes_c2s, "s2c": u.wire_bytes_s2c},
        "handshake": None,
        "close": None,
        "conn_state": state,
        "history": hist,
        "one_to_many": u.one_to_many,
        "header_overhead": u.header_overhead(),
        "anomalies": [],
        "tls": None,
    }


def connection_dict(c: TcpSummary | UdpConversation) -> dict[str, Any]:
    return tcp_dict(c) if isinstance(c, TcpSummary) else udp_dict(c)


def analysis_dict(a: Analysis) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "capture": capture_dict(a),
        "connections": [connection_dict(c) for c in a.connections],
    }


#: the standard library's encoder, for what orjson refuses (an int beyond 64 bits)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _dumps(obj: Any) -> str:
    """Compact JSON text, non-ASCII as it is. orjson makes it: five times faster than the
    standard library's encoder, which took 8% of a large capture's analyze. (Without the
    option that lets orjson take keys other than strings, which made it take 60% longer:
    a dict with such a key goes to the standard library's encoder, as an int beyond 64
    bits does.)"""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return _ENCODER.encode(obj)


class JsonRender(Renderer):
    """A connection as its JSON text, made as soon as it is over (analyze(render=...))."""

    def render(self, conn: TcpSummary | UdpConversation) -> str:
        return _dumps(connection_dict(conn))

    def renumber(self, item: str, old: int, stream: int) -> str:
        # "stream" is a key of the connection and of its tls object, both numbers followed
        # by more keys; a string in the text cannot hold the quote unescaped
        return item.replace(f'"stream":{old},', f'"stream":{stream},')


JSON = JsonRender()


class JsonWriter:
    """Writes one capture's analysis as it is made: connections first, as each
    one is over, then the capture's figures, which are known only at the end.

    The document equals :func:`analysis_dict` (keys in another order), and is
    never held in memory whole: it goes out in pieces of about WRITE_CHUNK
    characters. (A write per connection cost two system calls each where standard
    output is unbuffered, as PYTHONUNBUFFERED makes it: 56,500 for the 1M-packet
    benchmark capture.)
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self._held = [f'{{"schema":{SCHEMA_VERSION},"connections":[']
        self._size = 0

    def connection(self, c: TcpSummary | UdpConversation) -> None:
        self.write(JSON.render(c))

    def write(self, text: str) -> None:
        """Add a connection already made into JSON text (by :data:`JSON`)."""
        held = self._held
        if self.count:
            held.append(",")
        self.count += 1
        held.append(text)
        self._size += len(text)
        if self._size >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write what is held."""
        self.out.write("".join(self._held))
        self._held = []
        self._size = 0

    def end(self, a: Analysis) -> None:
        self._held.append(f'],"capture":{_dumps(capture_dict(a))}}}')
        self.flush()


#: JsonWriter writes in pieces of about this many characters
WRITE_CHUNK = 1 << 16


def capture_dict(a: Analysis) -> dict[str, Any]:
    first, last = a.first_ts_ns, a.last_ts_ns
    return {
        "path": a.path,
        "format": a.info.format,
        "compressed": a.info.compressed,
        "interfaces": [
            {"linktype": i.linktype, "linktype_name": LINKTYPE_NAMES.get(i.linktype),
             "name": i.name, "snaplen": i.snaplen}
            for i in a.info.interfaces
        ],
        "frames": a.frames,
        "captured_bytes": a.captured_bytes,
        "start_time": first / 1e9 if first is not None else None,
        "duration": (last - first) / 1e9 if first is not None and last is not None else None,
        "counts": dict(sorted(a.counts.items())),
        "tcp_streams": a.tcp_streams,
        "udp_streams": a.udp_streams,
        "diagnostics": [
            {"severity": d.severity, "message": d.message, "frame": d.frame, "offset": d.offset}
            for d in a.diagnostics
        ],
    }
