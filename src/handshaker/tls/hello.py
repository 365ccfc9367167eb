"""The facts ``analyze`` reports of a ClientHello and a ServerHello, read lean.

:mod:`handshaker.tls.messages` parses every field into typed values: right
for detail views, too slow for the 18,000 handshakes of a benchmark capture.
These two functions read only what a connection summary needs, with
``struct`` over the bytes, and give up (return None) on anything they do not
expect, so that the caller falls back to the full parser and its
diagnostics. ``tests/test_tls_hello.py`` checks that both paths agree on
every hello in the corpus.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from handshaker.tls.extensions import (
    ALPN,
    EC_POINT_FORMATS,
    KEY_SHARE,
    PRE_SHARED_KEY,
    SERVER_NAME,
    SESSION_TICKET,
    SIGNATURE_ALGORITHMS,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
)
from handshaker.tls.fingerprints import ja3_string_of, ja4_of
from handshaker.tls.messages import HELLO_RETRY_REQUEST_RANDOM


@dataclass(slots=True)
class ClientHelloFacts:
    legacy_version: int
    session_id: bytes
    cipher_suites: list[int]
    extension_types: list[int]
    sni: str | None = None
    alpn: list[bytes] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    ticket: bool = False  # a non-empty session_ticket extension (RFC 5077): resumption offered

    @property
    def legacy_session_id(self) -> bytes:
        return self.session_id

    def ja3_string(self) -> str:
        return ja3_string_of(self.legacy_version, self.cipher_suites, self.extension_types,
                             self.groups, self.point_formats)

    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string().encode("ascii"), usedforsecurity=False).hexdigest()

    def ja4(self) -> str:
        first = self.alpn[0] if self.alpn else (b"" if ALPN in self.extension_types else None)
        return ja4_of(self.versions, self.legacy_version, self.cipher_suites,
                      self.extension_types, first, self.signature_algorithms)


@dataclass(slots=True)
class ServerHelloFacts:
    legacy_version: int
    session_id: bytes
    cipher_suite: int
    extension_types: list[int]
    hello_retry: bool
    selected_version: int | None = None
    key_share_group: int | None = None
    alpn: bytes | None = None
    pre_shared_key: bool = False

    def ja3s_string(self) -> str:
        from handshaker.tls.registry import is_grease

        exts = "-".join(str(e) for e in self.extension_types if not is_grease(e))
        return f"{self.legacy_version},{self.cipher_suite},{exts}"

    def ja3s(self) -> str:
        return hashlib.md5(self.ja3s_string().encode("ascii"), usedforsecurity=False).hexdigest()


def _u16s(b: bytes) -> list[int]:
    return [(b[i] << 8) | b[i + 1] for i in range(0, len(b) - 1, 2)]


def client_hello_facts(body: bytes) -> ClientHelloFacts | None:
    """The summary facts of a ClientHello body (after the 4-byte header), or None."""
    n = len(body)
    if n < 38:
        return None
    version = (body[0] << 8) | body[1]
    p = 34
    sid_len = body[p]
    p += 1
    session_id = body[p:p + sid_len]
    p += sid_len
    if p + 2 > n:
        return None
    cs_len = (body[p] << 8) | body[p + 1]
    p += 2
    if cs_len % 2 or p + cs_len > n:
        return None
    suites = _u16s(body[p:p + cs_len])
    p += cs_len
    if p >= n:
        return None
    comp_len = body[p]
    p += 1 + comp_len
    facts = ClientHelloFacts(version, session_id, suites, [])
    if p == n:
        return facts  # no extensions block at all
    if p + 2 > n:
        return None
    ext_end = p + 2 + ((body[p] << 8) | body[p + 1])
    if ext_end != n:
        return None
    p += 2
    types = facts.extension_types
    while p < ext_end:
        if p + 4 > ext_end:
            return None
        et = (body[p] << 8) | body[p + 1]
        el = (body[p + 2] << 8) | body[p + 3]
        p += 4
        if p + el > ext_end:
            return None
        data = body[p:p + el]
        p += el
        types.append(et)
        if et == SERVER_NAME and el >= 5 and data[2] == 0:
            name_len = (data[3] << 8) | data[4]
            facts.sni = data[5:5 + name_len].decode("ascii", "replace")
        elif et == ALPN and el >= 2:
            q, alpn = 2, []
            while q < el:
                ln = data[q]
                alpn.append(data[q + 1:q + 1 + ln])
                q += 1 + ln
            facts.alpn = alpn
        elif et == SUPPORTED_GROUPS and el >= 2:
            facts.groups = _u16s(data[2:])
        elif et == EC_POINT_FORMATS and el >= 1:
            facts.point_formats = list(data[1:])
        elif et == SIGNATURE_ALGORITHMS and el >= 2:
            facts.signature_algorithms = _u16s(data[2:])
        elif et == SUPPORTED_VERSIONS and el >= 1:
            facts.versions = _u16s(data[1:])
        elif et == SESSION_TICKET and el > 0:
            facts.ticket = True
    return facts


def server_hello_facts(body: bytes) -> ServerHelloFacts | None:
    """The summary facts of a ServerHello (or HelloRetryRequest) body, or None."""
    n = len(body)
    if n < 38:
        return None
    version = (body[0] << 8) | body[1]
    if version > 0x0304:
        return None  # TLS 1.3 drafts have another layout: the full parser knows them
    random = body[2:34]
    sid_len = body[34]
    p = 35 + sid_len
    if p + 3 > n:
        return None
    session_id = body[35:p]
    suite = (body[p] << 8) | body[p + 1]
    p += 3  # suite, compression method
    facts = ServerHelloFacts(version, session_id, suite, [],
                             random == HELLO_RETRY_REQUEST_RANDOM)
    if p == n:
        return facts
    if p + 2 > n:
        return None
    ext_end = p + 2 + ((body[p] << 8) | body[p + 1])
    if ext_end != n:
        return None
    p += 2
    while p < ext_end:
        if p + 4 > ext_end:
            return None
        et = (body[p] << 8) | body[p + 1]
        el = (body[p + 2] << 8) | body[p + 3]
        p += 4
        if p + el > ext_end:
            return None
        data = body[p:p + el]
        p += el
        facts.extension_types.append(et)
        if et == SUPPORTED_VERSIONS and el == 2:
            facts.selected_version = (data[0] << 8) | data[1]
        elif et == KEY_SHARE and el >= 2:
            facts.key_share_group = (data[0] << 8) | data[1]
        elif et == ALPN and el >= 3:
            facts.alpn = data[3:3 + data[2]]
        elif et == PRE_SHARED_KEY:
            facts.pre_shared_key = True
    return facts
