"""Capture filters: a small expression language, applied to decoded columns.

``handshaker capture -f EXPR`` keeps the frames an expression accepts. The
language is the everyday subset of tcpdump's (pcap-filter(7)), with the same
meaning for each word::

    expr      := term ( ("or" | "||") term )*
    term      := factor ( ("and" | "&&") factor )*
    factor    := ("not" | "!") factor | "(" expr ")" | primitive
    primitive := proto [qualified] | qualified
    proto     := "ip" | "ip6" | "tcp" | "udp" | "icmp" | "icmp6"
    qualified := [dir] "host" ADDRESS | [dir] "net" ADDRESS/BITS
               | [dir] "port" NUMBER | [dir] "portrange" NUMBER-NUMBER
    dir       := "src" | "dst"

Without a direction, ``host``, ``net``, ``port`` and ``portrange`` match
either side. Addresses are IPv4 or IPv6 literals (no name lookups).

Why in user space, on the columns of :mod:`handshaker.dissect.columnar`,
and not a classic BPF program attached to the socket: compiling this
language to BPF means writing a compiler and an optimiser whose mistakes
drop packets silently in the kernel; here one tested decoder serves both
the filter and the analysis, a mistake shows in the tests against tcpdump
(``tests/test_capture_live.py``), and the cost — every packet of the
interface is copied to user space — is small at the rates a lab or a
learner's interface carries. Two differences from tcpdump, both on
purpose: the filter looks through VLAN tags (tcpdump needs ``vlan and``),
and it follows IPv6 extension headers to the transport protocol; ``host``
and ``net`` match IP packets only (tcpdump's also match ARP).

:func:`compile_filter` raises :class:`~handshaker.errors.UsageError` with
the position of the first word it cannot read.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from handshaker.dissect.columns import PacketColumns, ip_to_halves
from handshaker.errors import UsageError

Mask = npt.NDArray[np.bool_]
Predicate = Callable[[PacketColumns], Mask]

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}
#: the words that may follow a protocol word (pcap-filter(7): "tcp dst port 80")
QUALIFIED = frozenset({"src", "dst", "host", "net", "port", "portrange"})
_TOKEN = re.compile(r"\s*(\(|\)|&&|\|\||!|[^\s()!&|]+)")
_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class Filter:
    """A compiled expression: :meth:`mask` says which rows of a batch's columns match."""

    text: str
    _predicate: Predicate

    def mask(self, cols: PacketColumns) -> Mask:
        return self._predicate(cols)


def compile_filter(text: str) -> Filter:
    """Read an expression (see the module docstring)."""
    tokens: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise UsageError(f"filter: cannot read {text[pos:]!r}")
            break
        tokens.append((m.group(1), m.start(1)))
        pos = m.end()
    if not tokens:
        raise UsageError("filter: empty expression")
    parser = _Parser(text, tokens)
    predicate = parser.expr()
    if parser.i < len(tokens):
        parser.fail("expected 'and', 'or' or the end")
    return Filter(text, predicate)


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, int]]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0].lower() if self.i < len(self.tokens) else None

    def take(self) -> str:
        if self.i >= len(self.tokens):
            raise UsageError(f"filter: {self.text!r} ends too early")
        word = self.tokens[self.i][0]
        self.i += 1
        return word

    def fail(self, why: str) -> None:
        at = self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text)
        raise UsageError(f"filter: {why} at column {at + 1} of {self.text!r}")

    def expr(self) -> Predicate:
        return self._joined(self.term, ("or", "||"), np.logical_or)

    def term(self) -> Predicate:
        return self._joined(self.factor, ("and", "&&"), np.logical_and)

    def _joined(self, part: Callable[[], Predicate], words: tuple[str, ...],
                op: Callable[[Mask, Mask], Mask]) -> Predicate:
        """``part`` (words ``part``)*: one predicate, the parts combined with ``op``."""
        parts = [part()]
        while self.peek() in words:
            self.take()
            parts.append(part())
        return parts[0] if len(parts) == 1 else _fold(parts, op)

    def factor(self) -> Predicate:
        word = self.peek()
        if word in ("not", "!"):
            self.take()
            inner = self.factor()
            return lambda c: ~inner(c)
        if word == "(":
            self.take()
            inner = self.expr()
            if self.peek() != ")":
                self.fail("expected ')'")
            self.take()
            return inner
        return self.primitive()

    def primitive(self) -> Predicate:
        word = self.peek()
        if word is None:
            self.fail("expected a primitive")
        proto: Predicate | None = None
        if word == "ip":
            proto = _l3(4)
        elif word == "ip6":
            proto = _l3(6)
        elif word in PROTOCOLS:
            proto = _proto(PROTOCOLS[word])
        if proto is not None:
            self.take()
            if self.peek() in QUALIFIED:  # "udp port 53" is "udp and port 53"
                return _fold([proto, self.qualified()], np.logical_and)
            return proto
        return self.qualified()

    def qualified(self) -> Predicate:
        word = self.peek()
        direction = None
        if word in ("src", "dst"):
            direction = self.take().lower()
            word = self.peek()
        if word == "host":
            self.take()
            return _host(self._address(), direction)
        if word == "net":
            self.take()
            return _net(self._network(), direction)
        if word == "port":
            self.take()
            port = self._port(self.take())
            return _ports(port, port, direction)
        if word == "portrange":
            self.take()
            spec = self.take()
            lo, sep, hi = spec.partition("-")
            if not sep:
                self.i -= 1
                self.fail("a port range is LOW-HIGH")
            return _ports(self._port(lo), self._port(hi), direction)
        self.fail(f"unknown word {self.tokens[self.i][0]!r}" if self.i < len(self.tokens)
                  else "expected a primitive")
        raise AssertionError  # fail() raised

    def _address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        word = self.take()
        try:
            return ipaddress.ip_address(word)
        except ValueError:
            self.i -= 1
            self.fail(f"{word!r} is not an IPv4 or IPv6 address (names are not looked up)")
            raise

    def _network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        word = self.take()
        try:
            return ipaddress.ip_network(word, strict=False)
        except ValueError:
            self.i -= 1
            self.fail(f"{word!r} is not a network (ADDRESS/BITS)")
            raise

    def _port(self, word: str) -> int:
        if not word.isdigit() or int(word) > 65535:
            self.i -= 1
            self.fail(f"{word!r} is not a port number")
        return int(word)


def _l3(version: int) -> Predicate:
    return lambda c: c["l3"] == version


def _proto(number: int) -> Predicate:
    return lambda c: (c["ip_proto"] == number) & (c["l3"] != 0)


def _fold(parts: list[Predicate], op: Callable[[Mask, Mask], Mask]) -> Predicate:
    def f(c: PacketColumns) -> Mask:
        out = parts[0](c)
        for p in parts[1:]:
            out = op(out, p(c))
        return out
    return f


def _sides(direction: str | None) -> tuple[str, ...]:
    return ("src", "dst") if direction is None else (direction,)


def _host(addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
          direction: str | None) -> Predicate:
    hi, lo = ip_to_halves(addr.packed)
    l3 = addr.version

    def f(c: PacketColumns) -> Mask:
        cols = c
        out = np.zeros(len(cols), dtype=bool)
        for side in _sides(direction):
            out |= (cols[f"{side}_hi"] == np.uint64(hi)) & \
                (cols[f"{side}_lo"] == np.uint64(lo))
        return out & (cols["l3"] == l3)
    return f


def _net(net: ipaddress.IPv4Network | ipaddress.IPv6Network,
         direction: str | None) -> Predicate:
    bits = net.prefixlen + (96 if net.version == 4 else 0)  # IPv4 lives in the low 32 bits
    mask = ((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1)
    hi, lo = ip_to_halves(net.network_address.packed)
    mhi, mlo = np.uint64(mask >> 64), np.uint64(mask & _U64)
    l3 = net.version

    def f(c: PacketColumns) -> Mask:
        cols = c
        out = np.zeros(len(cols), dtype=bool)
        for side in _sides(direction):
            out |= ((cols[f"{side}_hi"] & mhi) == np.uint64(hi)) & \
                ((cols[f"{side}_lo"] & mlo) == np.uint64(lo))
        return out & (cols["l3"] == l3)
    return f


def _ports(lo: int, hi: int, direction: str | None) -> Predicate:
    def f(c: PacketColumns) -> Mask:
        cols = c
        proto = cols["ip_proto"]
        out = np.zeros(len(cols), dtype=bool)
        for side in _sides(direction):
            p = cols["sport" if side == "src" else "dport"]
            out |= (p >= lo) & (p <= hi)
        # pcap-filter(7): port means a TCP, UDP or SCTP port
        return out & ((proto == 6) | (proto == 17) | (proto == 132))
    return f


__all__ = ["Filter", "compile_filter"]
