"""The numbers of TLS: handshake message types, protocol versions, extension types.

Kept apart from :mod:`handshaker.tls.messages` and :mod:`handshaker.tls.extensions`
(which re-export them), whose many message and extension classes take 30 ms to
import: analyze's light mode reads hellos with tls/hello.py's lean readers and
needs these numbers only, so it never imports those modules.
"""

from __future__ import annotations

# HandshakeType (IANA "TLS HandshakeType")
HELLO_REQUEST = 0
CLIENT_HELLO = 1
SERVER_HELLO = 2
HELLO_VERIFY_REQUEST = 3
NEW_SESSION_TICKET = 4
END_OF_EARLY_DATA = 5
ENCRYPTED_EXTENSIONS = 8
CERTIFICATE = 11
SERVER_KEY_EXCHANGE = 12
CERTIFICATE_REQUEST = 13
SERVER_HELLO_DONE = 14
CERTIFICATE_VERIFY = 15
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20
CERTIFICATE_STATUS = 22
KEY_UPDATE = 24
COMPRESSED_CERTIFICATE = 25
MESSAGE_HASH = 254

# ProtocolVersion
SSL2 = 0x0002
SSL3 = 0x0300
TLS10 = 0x0301
TLS11 = 0x0302
TLS12 = 0x0303
TLS13 = 0x0304

#: RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: RFC 8446 §4.1.3: last 8 bytes of a TLS 1.3 server's random when it negotiates lower
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
DOWNGRADE_TLS11 = b"DOWNGRD\x00"


def is_tls13(version: int | None) -> bool:
    """TLS 1.3, its drafts (0x7fNN) and Facebook's experimental ones (0xfbNN)."""
    if version is None:
        return False
    return version == TLS13 or (version >> 8) in (0x7F, 0xFB)


# -- key exchange families ------------------------------------------------------------

KX_FAMILIES = frozenset({"rsa", "dhe", "dh", "dh_anon", "ecdhe", "ecdh", "ecdh_anon", "psk",
                         "rsa_psk", "dhe_psk", "ecdhe_psk", "srp", "krb5", "tls13"})


def normalize_kx(kx: str | None) -> str | None:
    """Map a key-exchange name to a family of :data:`KX_FAMILIES` (None if unknown)."""
    if not kx:
        return None
    s = kx.strip().lower().replace("-", "_")
    if s.startswith("tls_"):
        s = s[4:]
    if s.startswith(("tls13", "tls1_3", "tls1.3", "any")):
        return "tls13"
    if "psk" in s:
        for fam in ("ecdhe", "dhe", "rsa"):
            if s.startswith(fam) or s.endswith(fam) or f"psk_{fam}" in s:
                return f"{fam}_psk"
        return "psk"
    if s.startswith("srp"):
        return "srp"
    if s.startswith("krb5"):
        return "krb5"
    if s.startswith("ecdh_anon"):
        return "ecdh_anon"
    if s.startswith("ecdhe"):
        return "ecdhe"
    if s.startswith("ecdh"):
        return "ecdh"
    if s.startswith(("dh_anon", "adh")):
        return "dh_anon"
    if s.startswith(("dhe", "edh")):
        return "dhe"
    if s.startswith("dh"):
        return "dh"
    if s.startswith("rsa"):
        return "rsa"
    return None


# SSL 2.0 message types
SSL2_ERROR = 0
SSL2_CLIENT_HELLO = 1
SSL2_CLIENT_MASTER_KEY = 2
SSL2_CLIENT_FINISHED = 3
SSL2_SERVER_HELLO = 4
SSL2_SERVER_VERIFY = 5
SSL2_SERVER_FINISHED = 6


# Extension type codes (IANA "TLS ExtensionType Values").
SERVER_NAME = 0
STATUS_REQUEST = 5
SUPPORTED_GROUPS = 10
EC_POINT_FORMATS = 11
SIGNATURE_ALGORITHMS = 13
ALPN = 16
PADDING = 21
ENCRYPT_THEN_MAC = 22
EXTENDED_MASTER_SECRET = 23
COMPRESS_CERTIFICATE = 27
RECORD_SIZE_LIMIT = 28
SESSION_TICKET = 35
PRE_SHARED_KEY = 41
EARLY_DATA = 42
SUPPORTED_VERSIONS = 43
COOKIE = 44
PSK_KEY_EXCHANGE_MODES = 45
POST_HANDSHAKE_AUTH = 49
SIGNATURE_ALGORITHMS_CERT = 50
KEY_SHARE = 51
#: key_share's code in the TLS 1.3 drafts before 23 (reserved since for that reason)
KEY_SHARE_DRAFT = 40
RENEGOTIATION_INFO = 0xFF01
