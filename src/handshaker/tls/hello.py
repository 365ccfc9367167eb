"""The facts a connection summary needs of a ClientHello and a ServerHello.

:mod:`handshaker.tls.messages` parses every field into typed values: right
for detail views, too slow for the 18,000 handshakes of a benchmark capture.
:func:`client_hello_facts` and :func:`server_hello_facts` read only what a
summary needs, with plain indexing over the bytes, and give up (return None)
on anything they do not expect, so that the caller falls back to the full
parser and its diagnostics (``from_message`` makes the same facts from its
result). What does not change from one connection to the next (a client
program makes the same offer each time) is named and fingerprinted once and
shared: :meth:`ClientHelloFacts.offer`, :meth:`ServerHelloFacts.fingerprint`.
``tests/test_tls_hello.py`` checks that both paths agree on every hello in
the corpus. Both readers are compiled as well (tls/_hello.c), where the package
was built with its C helpers; ``read_client_hello`` and ``read_server_hello``
are their Python twins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handshaker.compiled import helper
from handshaker.tls.codes import (
    ALPN,
    EC_POINT_FORMATS,
    HELLO_RETRY_REQUEST_RANDOM,
    KEY_SHARE,
    KEY_SHARE_DRAFT,
    PRE_SHARED_KEY,
    SERVER_NAME,
    SESSION_TICKET,
    SIGNATURE_ALGORITHMS,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
)
from handshaker.tls.fingerprints import ja3_string_of, ja3s_string_of, ja4_of
from handshaker.tls.registry import (
    GREASE,
    cipher_suite,
    group_name,
    signature_scheme_name,
    version_name,
)

if TYPE_CHECKING:  # (the parsed hellos: imported only where one is read, see from_message)
    from handshaker.tls.messages import ClientHello, ServerHello

# The readers compiled (tls/_hello.c), when the package was built with them; without them
# (see handshaker.compiled), read_client_hello and read_server_hello.
_compiled: Any = helper("handshaker.tls._hello")


@dataclass(slots=True)
class ClientHelloFacts:
    """A ClientHello as analyze sees it. The value lists are kept as the wire has them
    (big-endian 16-bit values) and read into numbers only when asked for: the summary
    of an offer seen before comes from :data:`_OFFERS` without reading them at all."""

    legacy_version: int
    session_id: bytes
    suites_raw: bytes
    extension_types: list[int]
    sni: str | None = None
    alpn: list[bytes] = field(default_factory=list)
    groups_raw: bytes = b""
    point_formats_raw: bytes = b""
    sigalgs_raw: bytes = b""
    versions_raw: bytes = b""
    ticket: bool = False  # a non-empty session_ticket extension (RFC 5077): resumption offered

    @property
    def legacy_session_id(self) -> bytes:
        return self.session_id

    @property
    def cipher_suites(self) -> list[int]:
        return _u16s(self.suites_raw)

    @property
    def groups(self) -> list[int]:
        return _u16s(self.groups_raw)

    @property
    def point_formats(self) -> list[int]:
        return list(self.point_formats_raw)

    @property
    def signature_algorithms(self) -> list[int]:
        return _u16s(self.sigalgs_raw)

    @property
    def versions(self) -> list[int]:
        return _u16s(self.versions_raw)

    def ja3_string(self) -> str:
        return ja3_string_of(self.legacy_version, self.cipher_suites, self.extension_types,
                             self.groups, self.point_formats)

    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string().encode("ascii"), usedforsecurity=False).hexdigest()

    def ja4(self) -> str:
        first = self.alpn[0] if self.alpn else (b"" if ALPN in self.extension_types else None)
        return ja4_of(self.versions, self.legacy_version, self.cipher_suites,
                      self.extension_types, first, self.signature_algorithms)

    @classmethod
    def from_message(cls, m: ClientHello) -> ClientHelloFacts:
        """The same facts from a fully parsed ClientHello (the fallback path)."""
        from handshaker.tls.extensions import (
            ECPointFormatList,
            NamedGroupList,
            ProtocolNameList,
            ServerNameList,
            SessionTicket,
            SignatureSchemeList,
            SupportedVersions,
        )

        f = cls(m.legacy_version, m.legacy_session_id, _raw16(m.cipher_suites),
                [e.extension_type for e in m.extensions or ()])
        for e in m.extensions or ():
            v = e.value
            if isinstance(v, ServerNameList) and f.sni is None:
                for entry in v.server_name_list:
                    if entry.name_type == 0:
                        f.sni = entry.host_name.decode("ascii", "replace")
                        break
            elif isinstance(v, ProtocolNameList) and e.extension_type == ALPN:
                f.alpn = list(v.protocol_name_list)
            elif isinstance(v, NamedGroupList):
                f.groups_raw = _raw16(v.named_group_list)
            elif isinstance(v, ECPointFormatList):
                f.point_formats_raw = bytes(v.ec_point_format_list)
            elif isinstance(v, SignatureSchemeList) and e.extension_type == SIGNATURE_ALGORITHMS:
                f.sigalgs_raw = _raw16(v.supported_signature_algorithms)
            elif isinstance(v, SupportedVersions) and v.versions:
                f.versions_raw = _raw16(v.versions)
            elif isinstance(v, SessionTicket) and v.ticket:
                f.ticket = True
        return f

    def offer(self) -> Offer:
        """What this hello offers, named, and its fingerprints: shared by every hello
        with the same values (one client program makes the same offer each time)."""
        key = (self.legacy_version, self.suites_raw, tuple(self.extension_types),
               self.groups_raw, self.point_formats_raw, self.sigalgs_raw, self.versions_raw,
               tuple(self.alpn))
        found = _OFFERS.get(key)
        if found is None:
            # what an offer holds grows with its lists (names, JA3): bound their sum too
            size = (len(self.suites_raw) + 2 * len(self.extension_types) + len(self.groups_raw)
                    + len(self.sigalgs_raw) + len(self.versions_raw)
                    + sum(len(p) for p in self.alpn))
            global _offers_bytes
            if len(_OFFERS) >= MAX_CACHED_OFFERS or _offers_bytes + size > MAX_CACHED_OFFER_BYTES:
                _OFFERS.clear()
                _offers_bytes = 0
            _offers_bytes += size
            alpn = [p.decode("ascii", "replace") for p in self.alpn]
            found = _OFFERS[key] = Offer(
                named_offer(self.versions or [self.legacy_version], self.cipher_suites,
                            self.groups, self.signature_algorithms, alpn),
                alpn, self.ja3_string(), self.ja3(), self.ja4())
        return found


@dataclass(frozen=True, slots=True)
class Offer:
    """The parts of a ClientHello that do not change from one connection to the next.
    Shared between sessions: never modified."""

    named: dict[str, list[Any]]
    alpn: list[str]
    ja3_string: str
    ja3: str
    ja4: str


#: offers seen, by their wire values (a limit, STYLE §10: cleared when full)
MAX_CACHED_OFFERS = 4096
#: and at most this many bytes of their wire values (a hostile hello may offer thousands
#: of suites: an offer of 1,000 holds about 290 KB of names and fingerprints)
MAX_CACHED_OFFER_BYTES = 1 << 20
_OFFERS: dict[tuple[Any, ...], Offer] = {}
_offers_bytes = 0


def named_offer(versions: list[int], suites: list[int], groups: list[int], sigs: list[int],
                alpn: list[str]) -> dict[str, list[Any]]:
    """The ClientHello's offer, named, GREASE left out (the "offered vs chosen" view)."""
    return {
        "versions": [version_name(v) for v in versions if v not in GREASE],
        "cipher_suites": [{"id": c, "name": cipher_suite(c).name}
                          for c in suites if c not in GREASE],
        "groups": [group_name(g) for g in groups if g not in GREASE],
        "signature_algorithms": [signature_scheme_name(g) for g in sigs if g not in GREASE],
        "alpn": list(alpn),
    }


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
    compression: int = 0  # the compression method (1: DEFLATE, RFC 3749)

    @property
    def version(self) -> int:
        """The version the server chose (supported_versions, else the legacy field)."""
        return self.selected_version or self.legacy_version

    @classmethod
    def from_message(cls, m: ServerHello) -> ServerHelloFacts:
        """The same facts from a fully parsed ServerHello (TLS 1.3 drafts, odd hellos)."""
        from handshaker.tls.extensions import (
            KeyShareHelloRetryRequest,
            KeyShareServerHello,
            ProtocolNameList,
        )

        f = cls(m.legacy_version, m.legacy_session_id_echo or b"", m.cipher_suite,
                [e.extension_type for e in m.extensions or ()], m.is_hello_retry_request,
                selected_version=m.selected_version,
                compression=m.legacy_compression_method or 0)
        ks = m.find(KEY_SHARE) or m.find(KEY_SHARE_DRAFT)
        if ks is not None and isinstance(ks.value, KeyShareServerHello):
            f.key_share_group = ks.value.server_share.group
        elif ks is not None and isinstance(ks.value, KeyShareHelloRetryRequest):
            f.key_share_group = ks.value.selected_group
        alpn = m.find(ALPN)
        if alpn is not None and isinstance(alpn.value, ProtocolNameList) \
                and alpn.value.protocol_name_list:
            f.alpn = alpn.value.protocol_name_list[0]
        f.pre_shared_key = m.find(PRE_SHARED_KEY) is not None
        return f

    def ja3s_string(self) -> str:
        return ja3s_string_of(self.legacy_version, self.cipher_suite, self.extension_types)

    def ja3s(self) -> str:
        return hashlib.md5(self.ja3s_string().encode("ascii"), usedforsecurity=False).hexdigest()

    def fingerprint(self) -> tuple[str, str]:
        """(JA3S string, JA3S), shared by every ServerHello with the same values."""
        key = (self.legacy_version, self.cipher_suite, tuple(self.extension_types))
        found = _JA3S.get(key)
        if found is None:
            global _ja3s_bytes
            size = 2 * len(self.extension_types)
            if len(_JA3S) >= MAX_CACHED_OFFERS or _ja3s_bytes + size > MAX_CACHED_OFFER_BYTES:
                _JA3S.clear()
                _ja3s_bytes = 0
            _ja3s_bytes += size
            found = _JA3S[key] = (self.ja3s_string(), self.ja3s())
        return found


_JA3S: dict[tuple[Any, ...], tuple[str, str]] = {}
_ja3s_bytes = 0


def _raw16(values: Iterable[int]) -> bytes:
    return b"".join([v.to_bytes(2, "big") for v in values])


def _u16s(b: bytes) -> list[int]:
    return [(b[i] << 8) | b[i + 1] for i in range(0, len(b) - 1, 2)]


def client_hello_facts(body: bytes) -> ClientHelloFacts | None:
    """The summary facts of a ClientHello body (after the 4-byte header), or None."""
    if _compiled is None:
        return read_client_hello(body)
    facts = _compiled.client_hello(body)
    return None if facts is None else ClientHelloFacts(*facts)


def server_hello_facts(body: bytes) -> ServerHelloFacts | None:
    """The summary facts of a ServerHello (or HelloRetryRequest) body, or None."""
    if _compiled is None:
        return read_server_hello(body)
    facts = _compiled.server_hello(body)
    return None if facts is None else ServerHelloFacts(*facts)


def read_client_hello(body: bytes) -> ClientHelloFacts | None:
    """:func:`client_hello_facts` in Python (the twin of tls/_hello.c's client_hello)."""
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
    suites = body[p:p + cs_len]
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
            facts.groups_raw = data[2:]
        elif et == EC_POINT_FORMATS and el >= 1:
            facts.point_formats_raw = data[1:]
        elif et == SIGNATURE_ALGORITHMS and el >= 2:
            facts.sigalgs_raw = data[2:]
        elif et == SUPPORTED_VERSIONS and el >= 1:
            facts.versions_raw = data[1:]
        elif et == SESSION_TICKET and el > 0:
            facts.ticket = True
    return facts


def read_server_hello(body: bytes) -> ServerHelloFacts | None:
    """:func:`server_hello_facts` in Python (the twin of tls/_hello.c's server_hello)."""
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
    compression = body[p + 2]
    p += 3  # suite, compression method
    facts = ServerHelloFacts(version, session_id, suite, [],
                             random == HELLO_RETRY_REQUEST_RANDOM, compression=compression)
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


def ecdhe_named_group(body: bytes, with_algorithm: bool) -> int | None:
    """The named group of a signed ECDHE ServerKeyExchange body (RFC 8422 §5.4:
    curve_type 3, the group, the public point, [the TLS 1.2 signature algorithm,] the
    signature) whose fields fill it exactly, or None: the full parser then reads it
    (and names what is wrong). It gives what that parser's first form gives."""
    n = len(body)
    if n < 5 or body[0] != 3 or not body[3]:
        return None
    p = 4 + body[3] + (2 if with_algorithm else 0)
    if p + 2 > n or p + 2 + ((body[p] << 8) | body[p + 1]) != n:
        return None
    return (body[1] << 8) | body[2]
