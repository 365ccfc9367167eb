"""TLS fingerprints: JA3, JA3S (salesforce/ja3) and JA4 (FoxIO, client only).

JA3 (https://github.com/salesforce/ja3, README "How it works"): the
ClientHello's decimal values ``SSLVersion,Cipher,SSLExtension,
EllipticCurve,EllipticCurvePointFormat``, values joined with ``-``, MD5
of that string; GREASE values (RFC 8701) are left out everywhere. JA3S: the
ServerHello's ``SSLVersion,Cipher,SSLExtension``. The version is the
hello's legacy version field (TLS 1.3 hellos say 771).

JA4 (FoxIO-LLC/ja4, technical_details/JA4.md, BSD-3-Clause): ``a_b_c``
where ``a`` = transport (``t``: TLS over TCP, ``q``: QUIC, ``d``: DTLS),
version (the highest non-GREASE supported_versions entry, else the
ClientHello's version), ``d``/``i`` (SNI present or not), the cipher count
and extension count (two digits, GREASE left out, capped at 99), and the
first and last characters of the first ALPN value (``00`` without one);
``b`` = the first 12 hex digits of SHA-256 over the sorted cipher list; ``c``
= the same over the sorted extension list without SNI and ALPN, then ``_``
and the signature algorithms in wire order. The ``_r`` forms show the lists
instead of hashes; the ``_o`` forms keep the wire order (and SNI/ALPN).

JA4S, JA4X and the other JA4+ methods are under the FoxIO License, which
handshaker cannot accept: they are deliberately not implemented.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from handshaker.tls.codes import (
    ALPN,
    EC_POINT_FORMATS,
    SERVER_NAME,
    SIGNATURE_ALGORITHMS,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
)
from handshaker.tls.registry import GREASE

if TYPE_CHECKING:  # (imported where a parsed hello is read: light mode never does)
    from handshaker.tls.messages import ClientHello, ServerHello

# -- from plain values (wire order; GREASE is left out here) ------------------------------

Values = list[int] | tuple[int, ...]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _dash(values: Values) -> str:
    return "-".join([str(v) for v in values])


def ja3_string_of(version: int, ciphers: Values, extension_types: Values, groups: Values,
                  formats: Values) -> str:
    """The JA3 string."""
    return ",".join([str(version), _dash([c for c in ciphers if c not in GREASE]),
                     _dash([e for e in extension_types if e not in GREASE]),
                     _dash([g for g in groups if g not in GREASE]), _dash(formats)])


def ja3s_string_of(version: int, cipher: int, extension_types: Values) -> str:
    """The JA3S string."""
    return f"{version},{cipher},{_dash([e for e in extension_types if e not in GREASE])}"


_JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}
_EMPTY_HASH = "000000000000"


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12] if text else _EMPTY_HASH


def _hex4(values: Values) -> str:
    return ",".join([f"{v:04x}" for v in values])


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _alpn_code(first: bytes | None) -> str:
    if not first:
        return "00"
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    h = first.hex()
    return h[0] + h[-1]


def ja4_parts_of(versions: Values, legacy_version: int, ciphers: Values,
                 extension_types: Values, first_alpn: bytes | None, sigalgs: Values, *,
                 transport: str = "t", original: bool = False) -> tuple[str, str, str]:
    """The three JA4 sections before hashing (``first_alpn`` None: no ALPN extension): the
    sorted lists, or with ``original`` the wire order with SNI and ALPN kept."""
    offered = [v for v in versions if v not in GREASE]
    version = _JA4_VERSIONS.get(max(offered) if offered else legacy_version, "00")
    cs = [c for c in ciphers if c not in GREASE]
    exts = [e for e in extension_types if e not in GREASE]
    sigs = [x for x in sigalgs if x not in GREASE]
    sni = "d" if SERVER_NAME in exts else "i"
    a = (f"{transport}{version}{sni}{min(len(cs), 99):02d}{min(len(exts), 99):02d}"
         f"{_alpn_code(first_alpn)}")
    if not original:
        cs = sorted(cs)
        exts = sorted(e for e in exts if e not in (SERVER_NAME, ALPN))
    c = _hex4(exts)
    if c and sigs:
        c += "_" + _hex4(sigs)
    return a, _hex4(cs), c


def ja4_of(versions: Values, legacy_version: int, ciphers: Values, extension_types: Values,
           first_alpn: bytes | None, sigalgs: Values, transport: str = "t") -> str:
    """JA4, e.g. ``t13d1516h2_8daaf6152771_e5627efa2ab1``."""
    a, b, c = ja4_parts_of(versions, legacy_version, ciphers, extension_types, first_alpn,
                           sigalgs, transport=transport)
    return f"{a}_{_sha12(b)}_{_sha12(c)}"


# -- from parsed hellos -------------------------------------------------------------------


def _values(hello: ClientHello) -> tuple[list[int], list[int], list[int], list[int],
                                         bytes | None, list[int]]:
    """(versions, extension types, groups, point formats, first ALPN, signature schemes)
    of a ClientHello, in wire order."""
    from handshaker.tls.extensions import (
        ECPointFormatList,
        NamedGroupList,
        ProtocolNameList,
        SignatureSchemeList,
        SupportedVersions,
    )

    versions: list[int] | None = None
    groups: list[int] = []
    formats: list[int] = []
    sigalgs: list[int] | None = None
    first_alpn: bytes | None = None
    for ext in hello.extensions or ():
        t, v = ext.extension_type, ext.value
        if t == SUPPORTED_VERSIONS and isinstance(v, SupportedVersions) and versions is None:
            versions = list(v.versions or ())
        elif t == SUPPORTED_GROUPS and isinstance(v, NamedGroupList):
            groups = list(v.named_group_list)
        elif t == EC_POINT_FORMATS and isinstance(v, ECPointFormatList):
            formats = list(v.ec_point_format_list)
        elif t == SIGNATURE_ALGORITHMS and isinstance(v, SignatureSchemeList) \
                and sigalgs is None:
            sigalgs = list(v.supported_signature_algorithms)
        elif t == ALPN and isinstance(v, ProtocolNameList) and first_alpn is None:
            first_alpn = v.protocol_name_list[0] if v.protocol_name_list else b""
    return (versions or [], [e.extension_type for e in hello.extensions or ()], groups,
            formats, first_alpn, sigalgs or [])


def ja3_string(hello: ClientHello) -> str:
    """The JA3 string of a ClientHello (before hashing)."""
    _, exts, groups, formats, _, _ = _values(hello)
    return ja3_string_of(hello.legacy_version, hello.cipher_suites, exts, groups, formats)


def ja3(hello: ClientHello) -> str:
    """The JA3 fingerprint: MD5 of :func:`ja3_string`, 32 lowercase hex digits."""
    return _md5(ja3_string(hello))


def ja3s_string(hello: ServerHello) -> str:
    """The JA3S string of a ServerHello (before hashing)."""
    return ja3s_string_of(hello.legacy_version, hello.cipher_suite,
                          [e.extension_type for e in hello.extensions or ()])


def ja3s(hello: ServerHello) -> str:
    """The JA3S fingerprint: MD5 of :func:`ja3s_string`."""
    return _md5(ja3s_string(hello))


def ja4_raw_parts(hello: ClientHello, *, transport: str = "t",
                  original: bool = False) -> tuple[str, str, str]:
    """The three JA4 sections of a ClientHello before hashing."""
    versions, exts, _, _, first_alpn, sigalgs = _values(hello)
    return ja4_parts_of(versions, hello.legacy_version, hello.cipher_suites, exts, first_alpn,
                        sigalgs, transport=transport, original=original)


def ja4(hello: ClientHello, *, transport: str = "t") -> str:
    """JA4, e.g. ``t13d1516h2_8daaf6152771_e5627efa2ab1``."""
    a, b, c = ja4_raw_parts(hello, transport=transport)
    return f"{a}_{_sha12(b)}_{_sha12(c)}"


def ja4_r(hello: ClientHello, *, transport: str = "t") -> str:
    """JA4_r: the sorted lists themselves."""
    return "_".join(ja4_raw_parts(hello, transport=transport))


def ja4_o(hello: ClientHello, *, transport: str = "t") -> str:
    """JA4_o: hashes of the lists in wire order (SNI and ALPN kept)."""
    a, b, c = ja4_raw_parts(hello, transport=transport, original=True)
    return f"{a}_{_sha12(b)}_{_sha12(c)}"


def ja4_ro(hello: ClientHello, *, transport: str = "t") -> str:
    """JA4_ro: the lists in wire order."""
    return "_".join(ja4_raw_parts(hello, transport=transport, original=True))
