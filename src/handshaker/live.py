"""``handshaker live``: connections on an interface, told as they happen.

Frames come from :mod:`handshaker.capture.live` a burst at a time and go
through the same :class:`~handshaker.analysis.Pipeline` as a file's. After
each burst :class:`LiveView` looks at the connections still open and says,
one line each and once: a TCP handshake completed (or refused), a TLS
session's facts known (version, suite, key exchange, group, SNI, ALPN), a
UDP conversation seen; and when a connection is over (both FINs, or a
reset) it is retired at once and its close said, with its ladder under
``--ladder``. A connection silent for long is retired as the analysis of a
file would (:data:`handshaker.flow.tcp.IDLE_NS`), by the wall clock.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.text import Text

from handshaker.analysis import Pipeline
from handshaker.flow.state import TcpState
from handshaker.flow.tcp import TcpStream, TcpSummary, is_over
from handshaker.flow.udp import UdpConversation
from handshaker.render.text import clean, endpoint_text

#: how often (wall clock) idle connections are looked for
EVICT_EVERY_S = 2.0

_OPEN_STATES = frozenset({TcpState.ESTABLISHED, TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2,
                          TcpState.CLOSE_WAIT, TcpState.CLOSING, TcpState.LAST_ACK,
                          TcpState.TIME_WAIT, TcpState.CLOSED})


class LiveView:
    """Says what happens to each connection, as it happens (see the module docstring)."""

    def __init__(self, console: Console, *, lang: str = "en", ladder: bool = False) -> None:
        self.console = console
        self.lang = lang
        self.ladder = ladder
        self.pipe = Pipeline(keep_tcp=(lambda n: True) if ladder else None,
                             on_tcp=self._tcp_done, on_udp=self._udp_done)
        self._said: dict[int, set[str]] = {}
        self._udp_said: set[int] = set()
        self._streams: dict[int, TcpStream] = {}  # the one being retired (for its ladder)
        self._next_evict = time.monotonic() + EVICT_EVERY_S
        self.lines = 0

    def say(self, kind: str, text: str, style: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        self.console.print(Text(f"{stamp} {kind:<5} ", style="bold") +
                           Text(clean(text), style=style))
        self.lines += 1

    def feed(self, batch: Any) -> None:
        """One burst of frames (a FrameBatch)."""
        if len(batch):
            self.pipe.feed(batch)
        self._look()
        if time.monotonic() >= self._next_evict:
            self._next_evict = time.monotonic() + EVICT_EVERY_S
            self.pipe.evict(time.time_ns())

    def close(self) -> None:
        """The capture is over: say what is still open, as it stands."""
        self._look()
        self.pipe.close()

    # -- looking at open connections ----------------------------------------------------
    def _look(self) -> None:
        for st in self.pipe.tcp.open_streams():
            said = self._said.setdefault(st.number, set())
            self._tcp_events(st, said)
            if is_over(st):
                self._streams[st.number] = st
                self.pipe.tcp.retire(st)
        for conv in self.pipe.udp.open_conversations():
            if conv.stream not in self._udp_said:
                self._udp_said.add(conv.stream)
                self.say("udp", f"{_name(conv.stream, conv.client, conv.server)}: first "
                                "datagram (no handshake: UDP has no connection)")

    def _tcp_events(self, st: TcpStream, said: set[str]) -> None:
        client = 0 if st.dirs[0].syn_frames or not st.dirs[1].syn_frames else 1
        ends = (st.a, st.b) if client == 0 else (st.b, st.a)
        name = _name(st.number, *ends)
        if "handshake" not in said and all(s in _OPEN_STATES for s in st.states) and \
                st.dirs[client].syn_frames and st.dirs[1 - client].synack_frames:
            said.add("handshake")
            c, s = st.dirs[client], st.dirs[1 - client]
            self.say("tcp", f"{name}: three-way handshake done (ISN {c.isn} / {s.isn})",
                     "green")
        obs = st.observer
        session = getattr(obs, "session", None)
        if "tls" not in said and session is not None and session.version is not None and \
                (not obs.active or is_over(st) or session.version == "TLS 1.3"):  # type: ignore[union-attr]
            said.add("tls")
            self.say("tls", f"{name}: {_tls_line(session)}", "cyan")

    # -- retired -----------------------------------------------------------------------
    def _tcp_done(self, summary: TcpSummary) -> None:
        st = self._streams.pop(summary.stream, None)
        said = self._said.pop(summary.stream, set())
        name = _name(summary.stream, summary.client, summary.server)
        if summary.tls is not None and summary.tls.version is not None and "tls" not in said:
            self.say("tls", f"{name}: {_tls_line(summary.tls)}", "cyan")
        close = summary.close or {}
        kind = close.get("kind") or "open"
        who = f" by the {close['initiator']}" if close.get("initiator") else ""
        hs = summary.handshake.get("state")
        if hs == "refused":
            text = "refused: the SYN was answered with RST"
        elif kind == "open":
            text = "still open (the capture ended or it went quiet)"
        else:
            text = f"closed: {kind.replace('_', '-')}{who}"
        self.say("tcp", f"{name}: {text}; {summary.packets} packets, "
                        f"{summary.bytes_c2s}/{summary.bytes_s2c} bytes",
                 "red" if kind == "reset" else "")
        if self.ladder and st is not None and st.segments is not None:
            from handshaker.explain.ladder import build_ladder
            from handshaker.render.text import render_ladder

            render_ladder(build_ladder(st, summary, self.lang), self.console)

    def _udp_done(self, conv: UdpConversation) -> None:
        self._udp_said.discard(conv.stream)


def _name(stream: int, client: Any, server: Any) -> str:
    return f"{stream} {endpoint_text(client)} → {endpoint_text(server)}"


def _tls_line(s: Any) -> str:
    parts = [s.version or "?", s.cipher_suite_name or "?", s.key_exchange or "?"]
    if s.group:
        parts.append(s.group)
    if s.sni:
        parts.append(f"SNI {s.sni}")
    if s.alpn_selected:
        parts.append(f"ALPN {s.alpn_selected}")
    if s.resumed:
        parts.append(f"resumed ({s.resumption})")
    return ", ".join(parts)


__all__ = ["LiveView"]
