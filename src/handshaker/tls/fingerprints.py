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

from handshaker.tls.extensions import (
    ALPN,
    EC_POINT_FORMATS,
    SERVER_NAME,
    SIGNATURE_ALGORITHMS,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
    ECPointFormatList,
    NamedGroupList,
    ProtocolNameList,
    SignatureSchemeList,
    SupportedVersions,
    is_grease,
)
from handshaker.tls.messages import ClientHello, ServerHello
from handshaker.tls.registry import GREASE

# -- JA3 / JA3S ----------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("ascii"), usedforsecurity=False).hexdigest()


def _dash(values: list[int] | tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values)


def ja3_string_of(version: int, ciphers: list[int] | tuple[int, ...],
                  extension_types: list[int] | tuple[int, ...],
                  groups: list[int] | tuple[int, ...], formats: list[int] | tuple[int, ...]
                  ) -> str:
    """The JA3 string from plain values in wire order (GREASE left out here)."""
    return ",".join([str(version), _dash([c for c in ciphers if c not in GREASE]),
                     _dash([e for e in extension_types if e not in GREASE]),
                     _dash([g for g in groups if g not in GREASE]), _dash(list(formats))])


def ja4_of(versions: list[int] | tuple[int, ...], legacy_version: int,
           ciphers: list[int] | tuple[int, ...], extension_types: list[int] | tuple[int, ...],
           first_alpn: bytes | None, sigalgs: list[int] | tuple[int, ...],
           transport: str = "t") -> str:
    """JA4 from plain values in wire order (``first_alpn`` None: no ALPN extension)."""
    offered = [v for v in versions if v not in GREASE]
    version = _JA4_VERSIONS.get(max(offered) if offered else legacy_version, "00")
    cs = [c for c in ciphers if c not in GREASE]
    exts = [e for e in extension_types if e not in GREASE]
    sigs = [x for x in sigalgs if x not in GREASE]
    sni = "d" if SERVER_NAME in exts else "i"
    a = (f"{transport}{version}{sni}{min(len(cs), 99):02d}{min(len(exts), 99):02d}"
         f"{_alpn_code(first_alpn)}")
    kept = sorted(e for e in exts if e not in (SERVER_NAME, ALPN))
    return f"{a}_{_sha12(_hex4(sorted(cs)))}_{_sha12(_ja4_c(kept, sigs))}"


def _alpn_code(first: bytes | None) -> str:
    if not first:
        return "00"
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    h = first.hex()
    return h[0] + h[-1]


def ja3_string(hello: ClientHello) -> str:
    """The JA3 string of a ClientHello (before hashing)."""
    ciphers = [c for c in hello.cipher_suites if not is_grease(c)]
    exts = [e.extension_type for e in hello.extensions or () if not is_grease(e.extension_type)]
    groups: list[int] = []
    formats: list[int] = []
    for ext in hello.extensions or ():
        if ext.extension_type == SUPPORTED_GROUPS and isinstance(ext.value, NamedGroupList):
            groups = [g for g in ext.value.named_group_list if not is_grease(g)]
        elif ext.extension_type == EC_POINT_FORMATS and isinstance(ext.value, ECPointFormatList):
            formats = list(ext.value.ec_point_format_list)
    return ",".join([str(hello.legacy_version), _dash(ciphers), _dash(exts), _dash(groups),
                     _dash(formats)])


def ja3(hello: ClientHello) -> str:
    """The JA3 fingerprint: MD5 of :func:`ja3_string`, 32 lowercase hex digits."""
    return _md5(ja3_string(hello))


def ja3s_string(hello: ServerHello) -> str:
    """The JA3S string of a ServerHello (before hashing)."""
    exts = [e.extension_type for e in hello.extensions or () if not is_grease(e.extension_type)]
    return f"{hello.legacy_version},{hello.cipher_suite},{_dash(exts)}"


def ja3s(hello: ServerHello) -> str:
    """The JA3S fingerprint: MD5 of :func:`ja3s_string`."""
    return _md5(ja3s_string(hello))


# -- JA4 -------------------------------------------------------------------------------------

_JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}
_EMPTY_HASH = "000000000000"


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12] if text else _EMPTY_HASH


def _hex4(values: list[int]) -> str:
    return ",".join(f"{v:04x}" for v in values)


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _ja4_alpn(hello: ClientHello) -> str:
    for ext in hello.extensions or ():
        if ext.extension_type == ALPN and isinstance(ext.value, ProtocolNameList):
            names = ext.value.protocol_name_list
            if not names or not names[0]:
                return "00"
            first = names[0]
            if _alnum(first[0]) and _alnum(first[-1]):
                return chr(first[0]) + chr(first[-1])
            h = first.hex()
            return h[0] + h[-1]
    return "00"


def _ja4_version(hello: ClientHello) -> str:
    version = hello.legacy_version
    for ext in hello.extensions or ():
        if ext.extension_type == SUPPORTED_VERSIONS and isinstance(ext.value, SupportedVersions):
            offered = [v for v in ext.value.versions or () if not is_grease(v)]
            if offered:
                version = max(offered)
            break
    return _JA4_VERSIONS.get(version, "00")


def _ja4_parts(hello: ClientHello, transport: str
               ) -> tuple[str, list[int], list[int], list[int]]:
    """(the ``a`` section, ciphers, extension types, signature algorithms), GREASE left out."""
    ciphers = [c for c in hello.cipher_suites if not is_grease(c)]
    exts = [e.extension_type for e in hello.extensions or () if not is_grease(e.extension_type)]
    sigalgs: list[int] = []
    for ext in hello.extensions or ():
        if ext.extension_type == SIGNATURE_ALGORITHMS and isinstance(ext.value,
                                                                       SignatureSchemeList):
            sigalgs = [s for s in ext.value.supported_signature_algorithms if not is_grease(s)]
            break
    sni = "d" if SERVER_NAME in exts else "i"
    a = (f"{transport}{_ja4_version(hello)}{sni}{min(len(ciphers), 99):02d}"
         f"{min(len(exts), 99):02d}{_ja4_alpn(hello)}")
    return a, ciphers, exts, sigalgs


def _ja4_c(exts: list[int], sigalgs: list[int]) -> str:
    text = _hex4(exts)
    if text and sigalgs:
        text += "_" + _hex4(sigalgs)
    return text


def ja4_raw_parts(hello: ClientHello, *, transport: str = "t",
                  original: bool = False) -> tuple[str, str, str]:
    """The three JA4 sections before hashing (sorted lists, or wire order with ``original``)."""
    a, ciphers, exts, sigalgs = _ja4_parts(hello, transport)
    if original:
        return a, _hex4(ciphers), _ja4_c(exts, sigalgs)
    kept = sorted(e for e in exts if e not in (SERVER_NAME, ALPN))
    return a, _hex4(sorted(ciphers)), _ja4_c(kept, sigalgs)


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
