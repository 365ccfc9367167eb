"""The IANA TLS registries: names for every number on the wire.

Theory of operation: the tables live in ``tls/data/`` as CSV files (copies of
the IANA registries, or tables built from the RFC text where no copy could be
had: ``tls/data/README.md`` names the source of each). They are read once,
when this module is imported, into plain dicts; every public function is then
one dict lookup. Nothing here is typed in by hand except the rules for
version numbers and GREASE, which are arithmetic (RFC 8446 §4.2.1, RFC 8701).

Cipher suites come from ``cipher-suites-derived.csv``, which
``scripts/make_tls_registry.py`` generates from the IANA names: key exchange,
authentication, bulk cipher, MAC/PRF hash and the AEAD / TLS 1.3 / export /
forward-secrecy flags.

Unknown numbers never raise: they get a name such as ``"0x1234 (unknown)"``
(or ``"GREASE"`` for RFC 8701 values), so a capture with something new in it
still shows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "CipherSuite",
    "alert",
    "cert_compression_name",
    "cipher_suite",
    "cipher_suites",
    "content_type_name",
    "ec_point_format_name",
    "extension_name",
    "group_name",
    "handshake_type_name",
    "is_grease",
    "is_grease_alpn",
    "is_grease_psk_mode",
    "signature_scheme_name",
    "version_name",
]


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite, taken apart.

    ``key_exchange``: ``rsa``, ``dhe``, ``ecdhe``, ``dh`` / ``ecdh`` (static,
    from the certificate), ``psk``, ``dhe_psk``, ``ecdhe_psk``, ``rsa_psk``,
    ``srp``, ``krb5``, ``eccpwd``, ``ecjpake``, ``gost``, ``fortezza``,
    ``null``, ``tls13`` (TLS 1.3 suites do not fix it: extensions do),
    ``scsv`` (a signal, never selected), ``grease`` or ``unknown``.

    ``authentication``: ``rsa``, ``dss``, ``ecdsa``, ``anon``, ``psk``,
    ``rsa_psk``, ``srp``, ``pwd``, ``krb5``, ``gost``, ``fortezza``, ``null``,
    ``tls13``, ``scsv``, ``grease`` or ``unknown``.

    ``cipher`` is the bulk cipher as the name spells it (``AES_128_GCM``,
    ``CHACHA20_POLY1305``, ``3DES_EDE_CBC``, ``RC4_128``, ``NULL``, ...).
    ``hash`` is the HMAC hash for CBC and stream ciphers (``SHA`` is SHA-1,
    ``MD5``) and the PRF/HKDF hash for AEAD suites (``SHA256``, ``SHA384``).

    ``forward_secrecy`` says whether recorded traffic stays safe when the
    server's long-term key leaks later. For TLS 1.3 it is True because the
    suite is always used with (EC)DHE unless a session is resumed in
    ``psk_ke`` mode, which the suite alone cannot tell.

    ``known`` is False for GREASE and for numbers in no table.
    ``recommended`` is IANA's column (``Y``, ``N``, ``D``; empty for suites
    that IANA never registered); ``reference`` names the defining documents.
    """

    code: int
    name: str
    key_exchange: str
    authentication: str
    cipher: str
    hash: str
    aead: bool
    tls13: bool
    export: bool
    forward_secrecy: bool
    known: bool = True
    recommended: str = ""
    reference: str = ""


_DATA = resources.files("handshaker.tls") / "data"


def _rows(filename: str) -> list[dict[str, str]]:
    text = (_DATA / filename).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


_SINGLE = re.compile(r"(?:0x)?([0-9A-Fa-f]+)")


def _simple(filename: str, *, hex_values: bool = False) -> dict[int, str]:
    """value -> description for the rows of a registry that name one value.

    Ranges ("42-255") and "Unassigned" rows are skipped; "Reserved" rows that
    RFC 8701 reserves for GREASE are named "GREASE".
    """
    table: dict[int, str] = {}
    for row in _rows(filename):
        value, name = row["Value"], row["Description"]
        if "-" in value or name == "Unassigned":
            continue
        m = _SINGLE.fullmatch(value)
        if m is None:
            continue
        code = int(m[1], 16 if hex_values or value.startswith("0x") else 10)
        if name == "Reserved" and "[RFC8701]" in row.get("Reference", ""):
            name = "GREASE"
        table[code] = name
    return table


def _load_cipher_suites() -> dict[int, CipherSuite]:
    suites: dict[int, CipherSuite] = {}
    for row in _rows("cipher-suites-derived.csv"):
        code = int(row["Value"], 16)
        suites[code] = CipherSuite(
            code=code,
            name=row["Description"],
            key_exchange=row["KeyExchange"],
            authentication=row["Authentication"],
            cipher=row["Cipher"],
            hash=row["Hash"],
            aead=row["AEAD"] == "Y",
            tls13=row["TLS13"] == "Y",
            export=row["Export"] == "Y",
            forward_secrecy=row["ForwardSecrecy"] == "Y",
            recommended=row["Recommended"],
            reference=row["Reference"],
        )
    return suites


_CIPHER_SUITES = _load_cipher_suites()
_GROUPS = _simple("tls-parameters-8.csv")
_SIGNATURE_SCHEMES = _simple("tls-signaturescheme.csv")
_HASH_ALGORITHMS = _simple("rfc-tls-hash-algorithms.csv")
_SIGNATURE_ALGORITHMS = _simple("rfc-tls-signature-algorithms.csv")
_EXTENSIONS = _simple("legacy-extension-types.csv") | _simple("rfc-tls-extension-types.csv")
_HANDSHAKE_TYPES = _simple("rfc-tls-handshake-types.csv")
_CONTENT_TYPES = _simple("rfc-tls-content-types.csv")
_EC_POINT_FORMATS = _simple("rfc-tls-ec-point-formats.csv")
_CERT_COMPRESSION = _simple("rfc-tls-cert-compression.csv")
_ALERTS = {int(r["Value"]): (r["Description"], r["Summary"]) for r in _rows("rfc-tls-alerts.csv")}
_ALERTS_ZH = {int(r["Value"]): r["Summary_zh"] for r in _rows("rfc-tls-alerts.csv")}


def _unknown16(value: int) -> str:
    return f"0x{value:04X} (unknown)"


def _unknown8(value: int) -> str:
    return f"{value} (unknown)"


#: the sixteen 16-bit GREASE values, for ``x not in GREASE`` in loops over many values
GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))


def is_grease(value: int) -> bool:
    """RFC 8701 §2: the sixteen 16-bit GREASE values 0x0A0A, 0x1A1A, ... 0xFAFA.

    They appear as cipher suites, extension types, named groups, signature
    schemes and versions, and must be ignored.
    """
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def is_grease_psk_mode(mode: int) -> bool:
    """RFC 8701 §2: GREASE PskKeyExchangeModes 0x0B, 0x2A, 0x49, ... 0xE4."""
    return 0 <= mode <= 0xFF and mode % 0x1F == 0x0B


def is_grease_alpn(protocol: bytes) -> bool:
    """RFC 8701 §2: a two-byte ALPN identifier equal to a 16-bit GREASE value."""
    return len(protocol) == 2 and is_grease(int.from_bytes(protocol, "big"))


def cipher_suite(code: int) -> CipherSuite:
    """The cipher suite with this 16-bit number; never raises."""
    suite = _CIPHER_SUITES.get(code)
    if suite is not None:
        return suite
    if is_grease(code):
        return CipherSuite(code, "GREASE", "grease", "grease", "GREASE", "GREASE",
                           False, False, False, False, known=False, reference="[RFC8701]")
    return CipherSuite(code, _unknown16(code), "unknown", "unknown", "unknown", "unknown",
                       False, False, False, False, known=False)


def cipher_suites() -> dict[int, CipherSuite]:
    """Every suite in the table (IANA-registered and legacy), by number."""
    return dict(_CIPHER_SUITES)


def group_name(group: int) -> str:
    """TLS Supported Groups (named groups, once "elliptic curves"): 23 -> 'secp256r1'."""
    name = _GROUPS.get(group)
    if name is not None:
        return name
    return "GREASE" if is_grease(group) else _unknown16(group)


def signature_scheme_name(scheme: int) -> str:
    """TLS SignatureScheme: 0x0804 -> 'rsa_pss_rsae_sha256'.

    TLS 1.2 numbers that are a (hash, signature) pair from RFC 5246
    §7.4.1.4.1 and have no TLS 1.3 name (0x0402 is SHA-256 with DSA) get a
    name built from the two halves, e.g. 'dsa_sha256'.
    """
    name = _SIGNATURE_SCHEMES.get(scheme)
    if name is not None and name != "Reserved for backward compatibility":
        return name
    if is_grease(scheme):
        return "GREASE"
    hash_name = _HASH_ALGORITHMS.get(scheme >> 8)
    sig_name = _SIGNATURE_ALGORITHMS.get(scheme & 0xFF)
    if hash_name is not None and sig_name is not None:
        return f"{sig_name}_{hash_name}"
    return _unknown16(scheme)


def alert(code: int, lang: str = "en") -> tuple[str, str]:
    """(name, what it means in one sentence, in ``lang``) for an AlertDescription."""
    found = _ALERTS.get(code)
    if found is not None:
        return (found[0], _ALERTS_ZH[code]) if lang == "zh" else found
    return _unknown8(code), ("没有任何登记表列出的告警编号。" if lang == "zh" else
                             "An alert number that no registry lists.")


def extension_name(ext: int) -> str:
    """TLS ExtensionType: 0 -> 'server_name', 51 -> 'key_share'."""
    name = _EXTENSIONS.get(ext)
    if name is not None:
        return name
    return "GREASE" if is_grease(ext) else _unknown16(ext)


def handshake_type_name(msg_type: int) -> str:
    """TLS HandshakeType: 1 -> 'client_hello', 12 -> 'server_key_exchange'."""
    return _HANDSHAKE_TYPES.get(msg_type) or _unknown8(msg_type)


def content_type_name(content_type: int) -> str:
    """TLS ContentType of a record: 22 -> 'handshake', 23 -> 'application_data'."""
    return _CONTENT_TYPES.get(content_type) or _unknown8(content_type)


def ec_point_format_name(fmt: int) -> str:
    """TLS EC Point Formats: 0 -> 'uncompressed'."""
    return _EC_POINT_FORMATS.get(fmt) or _unknown8(fmt)


def cert_compression_name(algorithm: int) -> str:
    """TLS Certificate Compression Algorithm IDs (RFC 8879): 2 -> 'brotli'."""
    return _CERT_COMPRESSION.get(algorithm) or _unknown16(algorithm)


# RFC 8446 §4.1.2 / Appendix D, RFC 6101, RFC 6347 §4.1, RFC 9147 §5.3.
_VERSIONS = {
    0x0002: "SSL 2.0",
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
    0x0100: "DTLS 1.0 (OpenSSL pre 0.9.8f)",
    0xFEFF: "DTLS 1.0",
    0xFEFD: "DTLS 1.2",
    0xFEFC: "DTLS 1.3",
    0x0101: "GMTLS",
    0xFB17: "TLS 1.3 (Facebook draft 23)",
    0xFB1A: "TLS 1.3 (Facebook draft 26)",
}


def version_name(version: int) -> str:
    """0x0303 -> 'TLS 1.2'; 0x7F17 -> 'TLS 1.3 (draft 23)'; GREASE -> 'GREASE'."""
    name = _VERSIONS.get(version)
    if name is not None:
        return name
    if version >> 8 == 0x7F:
        # draft-ietf-tls-tls13 §4.2.1: drafts announced themselves as 0x7F00 + n.
        return f"TLS 1.3 (draft {version & 0xFF})"
    if is_grease(version):
        return "GREASE"
    return _unknown16(version)
