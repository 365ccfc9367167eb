"""TLS parsing, unit by unit: the cursor, every handshake message, extensions, records,
handshake reassembly, fingerprints.

Round trips (build → parse → the same value, parse → build → the same
bytes) on hand-built messages of every type and every form; the corpus test
(test_tls_corpus.py) does the same on every message of the real captures.
Hypothesis feeds random bytes to every parser (only TruncatedError /
MalformedError may come out) and random segmentations of real handshake
byte streams to RecordParser + HandshakeReassembler (the same items must
come out as from the whole stream).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from conftest import require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handshaker.errors import HandshakerError, MalformedError, TruncatedError
from handshaker.tls import extensions as X
from handshaker.tls import fingerprints as F
from handshaker.tls import messages as M
from handshaker.tls.buffer import Buffer, BufferWriter
from handshaker.tls.records import (
    MAX_HANDSHAKE_LENGTH,
    MAX_RECORD_LENGTH,
    Alert,
    ApplicationData,
    ChangeCipherSpec,
    EncryptedRecord,
    FrameIndex,
    Handshake,
    HandshakeReassembler,
    HeartbeatMessage,
    Item,
    RecordGap,
    RecordParser,
    SSLv2Message,
    SSLv2Record,
    TLSPlaintext,
    looks_like_tls,
)

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- the cursor ------------------------------------------------------------------------------


def test_buffer_reads_integers_and_vectors() -> None:
    buf = Buffer(bytes.fromhex("01 0203 040506 0708090a 02 aabb 0001 cc"), base_offset=100)
    assert buf.pull_uint8() == 1
    assert buf.pull_uint16() == 0x0203
    assert buf.pull_uint24() == 0x040506
    assert buf.pull_uint32() == 0x0708090A
    assert buf.offset == 110
    assert buf.pull_vector(1) == b"\xaa\xbb"
    with buf.pull_block(2) as n:
        assert n == 1
        assert buf.pull_bytes(1) == b"\xcc"
        assert buf.eof()
    assert buf.eof()


def test_buffer_truncated_is_not_malformed() -> None:
    buf = Buffer(b"\x00\x05ab", base_offset=40)
    with pytest.raises(TruncatedError) as err:
        buf.pull_vector(2, "ticket")
    assert err.value.offset == 42 and err.value.field == "ticket"
    # the same bytes, known to be a whole message: the length contradicts it
    with pytest.raises(MalformedError) as err2:
        Buffer(b"\x00\x05ab", 40, complete=True).pull_vector(2, "ticket")
    assert err2.value.offset == 42


def test_buffer_block_must_be_consumed_exactly() -> None:
    buf = Buffer(b"\x00\x03abc", base_offset=7)
    with pytest.raises(MalformedError) as err, buf.pull_block(2, "extensions"):
        buf.pull_bytes(2)
    assert "1 bytes left over" in err.value.reason and err.value.field == "extensions"
    assert err.value.offset == 7 + 4
    # reading past an inner block is malformed, even with data after it
    buf = Buffer(b"\x00\x01ab")
    with pytest.raises(MalformedError), buf.pull_block(2, "inner"):
        buf.pull_uint16("x")


def test_buffer_vector_bounds_and_uint16_lists() -> None:
    with pytest.raises(MalformedError, match="outside <1"):
        Buffer(b"\x00").pull_vector(1, "cookie", min_length=1)
    with pytest.raises(MalformedError, match="odd"):
        Buffer(b"\x03abc").pull_uint16_list(1, "versions")
    assert Buffer(b"\x04\x03\x04\x03\x03").pull_uint16_list(1) == (0x0304, 0x0303)


def test_writer_mirrors_buffer() -> None:
    w = BufferWriter()
    w.push_uint8(1)
    w.push_uint24(0x10203)
    with w.push_block(2):
        w.push_vector(1, b"xy")
        w.push_uint16_list(2, [1, 2])
    data = w.data()
    buf = Buffer(data)
    assert buf.pull_uint8() == 1 and buf.pull_uint24() == 0x10203
    with buf.pull_block(2):
        assert buf.pull_vector(1) == b"xy"
        assert buf.pull_uint16_list(2) == (1, 2)
    with pytest.raises(ValueError):
        BufferWriter().push_uint8(256)


# -- hand-built messages of every type --------------------------------------------------------

RANDOM = bytes(range(32))
GREASE_A, GREASE_B = 0x0A0A, 0x3A3A


def ext(t: int, value: X.ExtensionValue) -> X.Extension:
    return X.make_extension(t, value)


def client_hello_13() -> M.ClientHello:
    offered = X.OfferedPsks((X.PskIdentity(b"ticket-1", 12345),), (bytes(32),))
    return M.ClientHello(
        0x0303, RANDOM, bytes(32), (GREASE_A, 0x1301, 0x1302, 0xC02F, 0x00FF), b"\x00", (
            X.Extension(GREASE_A, b""),
            ext(X.SERVER_NAME, X.ServerNameList((X.ServerName(0, b"example.com"),))),
            ext(X.EXTENDED_MASTER_SECRET, X.Empty()),
            ext(X.RENEGOTIATION_INFO, X.RenegotiationInfo(b"")),
            ext(X.SUPPORTED_GROUPS, X.NamedGroupList((GREASE_B, 29, 23, 24))),
            ext(X.EC_POINT_FORMATS, X.ECPointFormatList((0,))),
            ext(X.SESSION_TICKET, X.SessionTicket(b"")),
            ext(X.ALPN, X.ProtocolNameList((b"h2", b"http/1.1"))),
            ext(X.STATUS_REQUEST, X.CertificateStatusRequest(1, X.OCSPStatusRequest((), b""))),
            ext(X.SIGNATURE_ALGORITHMS, X.SignatureSchemeList((0x0403, 0x0804, 0x0401))),
            ext(X.KEY_SHARE, X.KeyShareClientHello((X.KeyShareEntry(GREASE_B, b"\x00"),
                                                     X.KeyShareEntry(29, bytes(32))))),
            ext(X.PSK_KEY_EXCHANGE_MODES, X.PskKeyExchangeModes((1,))),
            ext(X.SUPPORTED_VERSIONS, X.SupportedVersions(versions=(GREASE_A, 0x0304, 0x0303))),
            ext(X.COMPRESS_CERTIFICATE, X.CertificateCompressionAlgorithms((2,))),
            ext(X.RECORD_SIZE_LIMIT, X.RecordSizeLimit(16385)),
            ext(X.ENCRYPT_THEN_MAC, X.Empty()),
            ext(X.EARLY_DATA, X.EarlyDataIndication()),
            ext(X.COOKIE, X.Cookie(b"cookie")),
            ext(X.SIGNATURE_ALGORITHMS_CERT, X.SignatureSchemeList((0x0401,))),
            ext(X.POST_HANDSHAKE_AUTH, X.Empty()),
            X.Extension(0x4469, b"\x00\x03\x02h2"),  # unknown to us: kept raw
            ext(X.PADDING, X.Padding(bytes(7))),
            ext(X.PRE_SHARED_KEY, X.PreSharedKeyExtension(offered_psks=offered)),
        ))


SERVER_HELLO_13 = M.ServerHello(0x0303, RANDOM, bytes(32), 0x1301, 0, (
    ext(X.SUPPORTED_VERSIONS, X.SupportedVersions(selected_version=0x0304)),
    ext(X.KEY_SHARE, X.KeyShareServerHello(X.KeyShareEntry(29, bytes(32)))),
    ext(X.PRE_SHARED_KEY, X.PreSharedKeyExtension(selected_identity=0)),
))
HELLO_RETRY_REQUEST = M.ServerHello(0x0303, M.HELLO_RETRY_REQUEST_RANDOM, b"\x01" * 32, 0x1302,
                                    0, (
    ext(X.SUPPORTED_VERSIONS, X.SupportedVersions(selected_version=0x0304)),
    ext(X.KEY_SHARE, X.KeyShareHelloRetryRequest(23)),
    ext(X.COOKIE, X.Cookie(b"\x01\x02")),
))
SERVER_HELLO_12 = M.ServerHello(0x0303, RANDOM[:24] + M.DOWNGRADE_TLS12, b"", 0xC02F, 0, (
    ext(X.RENEGOTIATION_INFO, X.RenegotiationInfo(b"")),
    ext(X.SERVER_NAME, X.Empty()),
    ext(X.EC_POINT_FORMATS, X.ECPointFormatList((0, 1, 2))),
    ext(X.SESSION_TICKET, X.SessionTicket(b"")),
    ext(X.STATUS_REQUEST, X.Empty()),
    ext(X.ALPN, X.ProtocolNameList((b"h2",))),
    ext(X.EXTENDED_MASTER_SECRET, X.Empty()),
))
OCSP = b"\x30\x03\x0a\x01\x00"
SIGNATURE = b"\x30" + bytes(70)

# (message, version, kx): every type and every form
CASES: list[tuple[M.Message, int | None, str | None]] = [
    (M.HelloRequest(), 0x0303, None),
    (client_hello_13(), None, None),
    (M.ClientHello(0x0301, RANDOM, b"", (0x0035, 0x002F), b"\x01\x00", None), None, None),
    (M.ClientHello(0x0303, RANDOM, b"", (0x002F,), b"\x00", ()), None, None),
    (SERVER_HELLO_13, None, None),
    (HELLO_RETRY_REQUEST, None, None),
    (SERVER_HELLO_12, None, None),
    (M.ServerHello(0x0300, RANDOM, b"s" * 32, 0x000A, 0, None), None, None),
    (M.ServerHello(0x7F13, RANDOM, None, 0x1301, None, (  # TLS 1.3 draft 19 form
        ext(X.KEY_SHARE_DRAFT, X.KeyShareServerHello(X.KeyShareEntry(29, bytes(32)))),)),
     None, None),
    (M.HelloVerifyRequest(0xFEFF, b"cookie"), None, None),
    (M.NewSessionTicket(7200, b"ticket" * 10), 0x0303, None),
    (M.NewSessionTicket(0, b""), 0x0303, None),
    (M.NewSessionTicketTLS13(7200, 0xDEADBEEF, b"\x00", b"T" * 40, (
        ext(X.EARLY_DATA, X.EarlyDataIndication(16384)),)), 0x0304, None),
    (M.EndOfEarlyData(), 0x0304, None),
    (M.EncryptedExtensions((
        ext(X.SERVER_NAME, X.Empty()), ext(X.ALPN, X.ProtocolNameList((b"h2",))),
        ext(X.SUPPORTED_GROUPS, X.NamedGroupList((29, 23))),
        ext(X.EARLY_DATA, X.EarlyDataIndication()),
        ext(X.RECORD_SIZE_LIMIT, X.RecordSizeLimit(16385)))), 0x0304, None),
    (M.EncryptedExtensions(()), 0x0304, None),
    (M.Certificate(None, (M.CertificateEntry(b"cert-1"), M.CertificateEntry(b"cert-2"))),
     0x0303, None),
    (M.Certificate(None, ()), 0x0301, None),
    (M.Certificate(b"", (M.CertificateEntry(b"leaf", (
        ext(X.STATUS_REQUEST, X.CertificateStatusExtension(1, OCSP)),)),
        M.CertificateEntry(b"ca", ()))), 0x0304, None),
    (M.Certificate(b"ctx", ()), 0x0304, None),
    (M.ServerKeyExchange(M.ServerECDHParams(3, 29, bytes(32)), None, 0x0804, SIGNATURE),
     0x0303, "ecdhe"),
    (M.ServerKeyExchange(M.ServerECDHParams(3, 23, b"\x04" + bytes(64)), None, None, SIGNATURE),
     0x0301, "ECDHE_RSA"),
    (M.ServerKeyExchange(M.ServerECDHParams(1, None, bytes(32), b"\x01p\x01a\x01b\x02bb\x01o\x01c"),
                         None, 0x0401, SIGNATURE), 0x0303, "ecdhe"),
    (M.ServerKeyExchange(M.ServerDHParams(b"\xff" * 256, b"\x02", b"\x11" * 256), None, 0x0601,
                         SIGNATURE), 0x0303, "dhe"),
    (M.ServerKeyExchange(M.ServerDHParams(b"\xff" * 128, b"\x02", b"\x11" * 128), None, None,
                         SIGNATURE), 0x0300, "dhe"),
    (M.ServerKeyExchange(M.ServerDHParams(b"\xff" * 64, b"\x05", b"\x11" * 64)), 0x0303,
     "dh_anon"),
    (M.ServerKeyExchange(M.ServerDHParams(b"\xff" * 64, b"\x05", b"\x11" * 64)), 0x0303, "dhe"),
    (M.ServerKeyExchange(M.ServerECDHParams(3, 29, bytes(32))), 0x0303, "ecdh_anon"),
    (M.ServerKeyExchange(M.ServerRSAParams(b"\xc3" * 64, b"\x01\x00\x01"), None, None, SIGNATURE),
     0x0301, "rsa"),
    (M.ServerKeyExchange(None, b"hint"), 0x0303, "psk"),
    (M.ServerKeyExchange(None, b""), 0x0303, "rsa_psk"),
    (M.ServerKeyExchange(M.ServerDHParams(b"\xff" * 64, b"\x02", b"\x11" * 64), b"hint"),
     0x0303, "dhe_psk"),
    (M.ServerKeyExchange(M.ServerECDHParams(3, 29, bytes(32)), b"hint"), 0x0303, "ecdhe_psk"),
    (M.ServerKeyExchange(None, unparsed=b"\x00\x01N\x00\x01g\x01s\x00\x01B"), 0x0303, "srp"),
    (M.CertificateRequest(b"\x01\x40", (0x0401, 0x0403), (b"CN=ca", b"CN=other")), 0x0303,
     None),
    (M.CertificateRequest(b"\x01", None, ()), 0x0301, None),
    (M.CertificateRequestTLS13(b"", (
        ext(X.SIGNATURE_ALGORITHMS, X.SignatureSchemeList((0x0804,))),
        ext(X.STATUS_REQUEST, X.CertificateStatusRequest(1, X.OCSPStatusRequest((), b""))))),
     0x0304, None),
    (M.ServerHelloDone(), 0x0303, None),
    (M.CertificateVerify(0x0804, SIGNATURE), 0x0304, None),
    (M.CertificateVerify(0x0401, SIGNATURE), 0x0303, None),
    (M.CertificateVerify(None, SIGNATURE), 0x0301, None),
    (M.ClientKeyExchange(encrypted_pre_master_secret=b"\x5a" * 256), 0x0303, "rsa"),
    (M.ClientKeyExchange(encrypted_pre_master_secret=b"\x5a" * 128, length_prefix=False),
     0x0300, "rsa"),
    (M.ClientKeyExchange(dh_Yc=b"\x11" * 256), 0x0303, "dhe"),
    (M.ClientKeyExchange(ecdh_Yc=bytes(32)), 0x0303, "ecdhe"),
    (M.ClientKeyExchange(ecdh_Yc=b"\x04" + bytes(64)), 0x0303, "ecdh"),
    (M.ClientKeyExchange(), 0x0303, "ecdh"),  # implicit: the client certificate's key
    (M.ClientKeyExchange(), 0x0303, "dh"),
    (M.ClientKeyExchange(psk_identity=b"alice"), 0x0303, "psk"),
    (M.ClientKeyExchange(encrypted_pre_master_secret=b"\x5a" * 64, psk_identity=b"bob"),
     0x0303, "rsa_psk"),
    (M.ClientKeyExchange(dh_Yc=b"\x11" * 64, psk_identity=b"c"), 0x0303, "dhe_psk"),
    (M.ClientKeyExchange(ecdh_Yc=bytes(32), psk_identity=b"d"), 0x0303, "ecdhe_psk"),
    (M.ClientKeyExchange(unparsed=b"\x00\x02AB"), 0x0303, "srp"),
    (M.Finished(bytes(12)), 0x0303, None),
    (M.Finished(bytes(36)), 0x0300, None),
    (M.Finished(bytes(48)), 0x0304, None),
    (M.CertificateStatus(1, OCSP), 0x0303, None),
    (M.CertificateStatus(2, b"\x00\x00\x05" + OCSP[:3]), 0x0303, None),
    (M.KeyUpdate(1), 0x0304, None),
    (M.CompressedCertificate(2, 1000, b"\x28\xb5\x2f\xfd" + bytes(20)), 0x0304, None),
    (M.UnknownHandshake(23, b"supplemental"), 0x0303, None),
    (M.UnknownHandshake(254, bytes(32)), 0x0304, None),
]


def _case_id(case: tuple[M.Message, int | None, str | None]) -> str:
    msg, version, kx = case
    return f"{type(msg).__name__}-{version and hex(version)}-{kx}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_message_round_trip(case: tuple[M.Message, int | None, str | None]) -> None:
    msg, version, kx = case
    whole = M.build_handshake(msg)
    assert whole[0] == M.message_type(msg)
    assert int.from_bytes(whole[1:4], "big") == len(whole) - 4
    body = whole[4:]
    parsed = M.parse_handshake(whole[0], body, version=version, kx=kx, offset=4)
    assert parsed == msg
    assert M.build_handshake_body(parsed) == body
    for e in getattr(parsed, "extensions", None) or ():
        assert e.value is None or X.build_extension_data(e.value) == e.extension_data


def test_each_message_has_its_pull_and_build() -> None:
    """pull_x / build_x pairs, named after the message (aioquic style)."""
    for msg, version, _kx in CASES:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type(msg).__name__.replace("TLS13", "Tls13"))
        name = snake.lower()
        assert getattr(M, f"build_{name}")(msg) == M.build_handshake_body(msg)
        tls13_form = M.is_tls13(version) and name in ("certificate",)
        assert hasattr(M, f"pull_{name}_tls13" if tls13_form else f"pull_{name}") or \
            name == "unknown_handshake"


def test_every_handshake_type_has_a_case() -> None:
    covered = {M.message_type(m) for m, _, _ in CASES}
    assert covered >= {0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25}


def test_forms_are_found_without_version_or_kx() -> None:
    """With the version or key exchange unknown, the form that fits exactly is taken."""
    for msg, _version, kx in CASES:
        body = M.build_handshake_body(msg)
        t = M.message_type(msg)
        guessed = M.parse_handshake(t, body)
        if t in (M.CERTIFICATE, M.NEW_SESSION_TICKET, M.CERTIFICATE_VERIFY):
            assert guessed == msg or (t == M.CERTIFICATE and msg == M.Certificate(b"ctx", ()))
        if t == M.SERVER_KEY_EXCHANGE and M.normalize_kx(kx) in ("ecdhe", "dhe", "rsa") \
                and isinstance(msg, M.ServerKeyExchange) and msg.signature is not None:
            assert guessed == msg
    # a ClientKeyExchange of unknown kx: ECDH's 1-byte vector is recognised, others kept
    assert M.parse_handshake(16, b"\x20" + bytes(32)) == M.ClientKeyExchange(ecdh_Yc=bytes(32))
    assert M.parse_handshake(16, b"\x00\x02AB") == M.ClientKeyExchange(unparsed=b"\x00\x02AB")


def test_hello_retry_request_and_server_hello_properties() -> None:
    assert HELLO_RETRY_REQUEST.is_hello_retry_request
    assert not SERVER_HELLO_13.is_hello_retry_request
    assert SERVER_HELLO_13.selected_version == 0x0304
    assert SERVER_HELLO_12.selected_version == 0x0303
    assert SERVER_HELLO_12.downgrade_sentinel == 0x0303
    assert SERVER_HELLO_13.downgrade_sentinel is None
    ks = HELLO_RETRY_REQUEST.find(X.KEY_SHARE)
    assert ks is not None and ks.value == X.KeyShareHelloRetryRequest(23)
    ch = client_hello_13()
    assert ch.find(X.SERVER_NAME) is not None and ch.find(0xFFFF) is None
    grease = [e for e in ch.extensions or () if e.is_grease]
    assert [e.extension_type for e in grease] == [GREASE_A]
    assert grease[0].value is None
    unknown = ch.find(0x4469)
    assert unknown is not None and unknown.value is None and unknown.extension_data


def test_extension_order_and_raw_bytes_are_kept() -> None:
    ch = client_hello_13()
    parsed = M.parse_handshake(1, M.build_handshake_body(ch))
    assert isinstance(parsed, M.ClientHello) and parsed.extensions is not None
    assert [e.extension_type for e in parsed.extensions] == [
        e.extension_type for e in ch.extensions or ()]


def test_normalize_kx() -> None:
    cases = {"ECDHE_RSA": "ecdhe", "ecdhe_ecdsa": "ecdhe", "ECDH_RSA": "ecdh", "DHE-DSS": "dhe",
             "DH_anon": "dh_anon", "RSA_EXPORT": "rsa", "psk_dhe": "dhe_psk",
             "ECDHE_PSK": "ecdhe_psk", "RSA_PSK": "rsa_psk", "PSK": "psk", "tls13": "tls13",
             "SRP_SHA": "srp", "": None, "fortezza": None}
    for name, family in cases.items():
        assert M.normalize_kx(name) == family, name


# -- malformed messages ---------------------------------------------------------------------


def test_malformed_messages_say_where_and_what() -> None:
    body = M.build_handshake_body(client_hello_13())
    with pytest.raises(MalformedError) as err:
        M.parse_handshake(1, body + b"\x00", offset=1000)
    assert err.value.offset == 1000 + len(body)
    with pytest.raises(MalformedError) as err:
        M.parse_handshake(1, body[:-1], offset=1000)
    assert err.value.field is not None
    # a 33-byte session id breaks RFC 8446's <0..32>
    bad = b"\x03\x03" + RANDOM + b"\x21" + bytes(33) + b"\x00\x02\x00\x2f\x01\x00"
    with pytest.raises(MalformedError) as err:
        M.parse_handshake(1, bad, offset=10)
    assert err.value.field == "legacy_session_id" and err.value.offset == 10 + 34
    with pytest.raises(MalformedError, match="left over"):
        M.parse_handshake(14, b"\x00")  # ServerHelloDone is empty
    with pytest.raises(MalformedError, match="extension 43"):
        M.parse_handshake(2, M.build_handshake_body(M.ServerHello(
            0x0303, RANDOM, b"", 0x1301, 0, (X.Extension(43, b"\x03\x04\x00"),))))


# -- SSL 2.0 -------------------------------------------------------------------------------

V2_CASES: list[M.V2Message] = [
    M.V2ClientHello(0x0301, (0x010080, 0x00002F, 0x000035), b"", bytes(16)),
    M.V2ClientHello(0x0002, (0x0700C0,), b"sid", bytes(32)),
    M.V2ServerHello(0, 1, 0x0002, b"certificate", (0x0700C0, 0x010080), bytes(16)),
    M.V2ClientMasterKey(0x0700C0, b"", b"\x99" * 256, b"\x01" * 8),
    M.V2Error(1),
    M.UnknownV2Message(7, b"xyz"),
]


@pytest.mark.parametrize("msg", V2_CASES, ids=[type(m).__name__ for m in V2_CASES])
def test_sslv2_round_trip(msg: M.V2Message) -> None:
    data = M.build_sslv2(msg)
    assert M.parse_sslv2(data) == msg
    assert M.build_sslv2(M.parse_sslv2(data)) == data


def test_sslv2_compatible_hello_suites() -> None:
    hello = V2_CASES[0]
    assert isinstance(hello, M.V2ClientHello)
    assert hello.cipher_suites == (0x002F, 0x0035)
    with pytest.raises(MalformedError, match="multiple of 3"):
        M.parse_sslv2(b"\x01\x03\x01\x00\x02\x00\x00\x00\x10" + bytes(18))


# -- records -------------------------------------------------------------------------------


def record(ctype: int, fragment: bytes, version: int = 0x0303) -> bytes:
    return bytes([ctype]) + version.to_bytes(2, "big") + len(fragment).to_bytes(2, "big") \
        + fragment


def v2_record(data: bytes) -> bytes:
    return (0x8000 | len(data)).to_bytes(2, "big") + data


def drain_records(rp: RecordParser) -> list[Any]:
    out: list[Any] = []
    while True:
        try:
            rec = rp.next_record()
        except MalformedError as err:
            out.append(err)
            continue
        if rec is None:
            return out
        out.append(rec)


def test_looks_like_tls() -> None:
    assert looks_like_tls(record(22, b"\x01\x00\x00\x00"))
    assert looks_like_tls(record(23, b"x", 0x0301))
    assert not looks_like_tls(b"\x16\x03\x03")  # too short to tell
    assert not looks_like_tls(b"GET / HTTP/1.1\r\n")
    assert not looks_like_tls(b"\x16\x03\x05\x00\x10")  # no such version
    assert not looks_like_tls(b"\x16\x03\x03\x48\x01")  # longer than a record can be
    assert looks_like_tls(v2_record(M.build_sslv2(V2_CASES[0])))
    assert looks_like_tls(v2_record(M.build_sslv2(V2_CASES[2])))
    assert not looks_like_tls(b"\x80\x2e\x09\x00\x02")  # SSL 2.0 header, unknown message


def test_record_parser_whole_byte_by_byte_and_trailing() -> None:
    stream = (record(22, b"\x01\x00\x00\x00") + record(20, b"\x01")
              + record(23, bytes(300)) + b"\x17\x03\x03\x01")
    whole = RecordParser()
    whole.feed(stream, 0)
    recs = drain_records(whole)
    assert [(r.content_type, r.length, r.stream_offset) for r in recs] == [
        (22, 4, 0), (20, 1, 9), (23, 300, 15)]
    assert whole.pending == 4  # a header of the next record, waiting
    one = RecordParser()
    got: list[Any] = []
    for i, b in enumerate(stream):
        one.feed(bytes([b]), i)
        got += drain_records(one)
    assert got == recs


def test_record_parser_starts_anywhere_and_dedupes() -> None:
    stream = record(22, b"abcd") + record(21, b"\x02\x28")
    rp = RecordParser()
    rp.feed(stream[:7], 5000)  # TLS after a plaintext prologue (STARTTLS)
    rp.feed(stream[3:], 5003)  # overlapping copy
    recs = drain_records(rp)
    assert [r.stream_offset for r in recs] == [5000, 5009]
    assert rp.next_offset == 5000 + len(stream)


def test_record_parser_too_long_names_the_limit_and_resyncs() -> None:
    rp = RecordParser()
    rp.feed(b"\x17\x03\x03" + (MAX_RECORD_LENGTH + 1).to_bytes(2, "big") + bytes(10), 0)
    with pytest.raises(MalformedError) as err:
        rp.next_record()
    assert "MAX_RECORD_LENGTH" in err.value.reason and err.value.offset == 3
    assert err.value.field == "length"
    gap = rp.next_record()
    assert isinstance(gap, RecordGap) and gap.stream_offset == 0
    rp.feed(b"garbage!", 15)  # not a record start: skipped
    rp.feed(record(21, b"\x01\x00"), 23)  # this one is
    out = drain_records(rp)
    assert isinstance(out[0], RecordGap) and out[0].length == 8
    assert isinstance(out[1], TLSPlaintext) and out[1].stream_offset == 23


def test_record_parser_unknown_content_type() -> None:
    rp = RecordParser()
    rp.feed(record(22, b"ab") + record(25, b"cd"), 0)
    out = drain_records(rp)
    assert isinstance(out[0], TLSPlaintext)
    assert isinstance(out[1], MalformedError) and out[1].offset == 7
    assert out[1].field == "content_type"


def test_record_parser_gap_drops_the_partial_record() -> None:
    rp = RecordParser()
    rp.feed(record(22, b"abcd") + record(23, bytes(10))[:8], 0)
    rp.feed(record(21, b"\x01\x00"), 40)  # bytes 17..39 never came
    out = drain_records(rp)
    assert isinstance(out[0], TLSPlaintext)
    assert [(type(o).__name__, o.stream_offset) for o in out[1:]] == [
        ("RecordGap", 9), ("RecordGap", 17), ("TLSPlaintext", 40)]


def test_sslv2_compatible_client_hello_then_tls() -> None:
    hello = v2_record(M.build_sslv2(V2_CASES[0]))
    rp = RecordParser()
    rp.feed(hello + record(22, b"\x10\x00\x00\x00"), 0)
    out = drain_records(rp)
    assert isinstance(out[0], SSLv2Record) and out[0].header_length == 2
    assert isinstance(out[1], TLSPlaintext) and not rp.is_sslv2
    hr = HandshakeReassembler()
    for rec in out:
        hr.feed(rec)
    items = list(hr)
    assert isinstance(items[0], SSLv2Message) and items[0].msg_type == 1
    assert isinstance(items[1], Handshake) and items[1].msg_type == 16


def test_genuine_sslv2_encrypts_after_master_key() -> None:
    client = (v2_record(M.build_sslv2(V2_CASES[1])) + v2_record(M.build_sslv2(V2_CASES[3]))
              + v2_record(b"\x02" + bytes(20)) + b"\x00\x10\x05" + bytes(16))
    rp = RecordParser()
    rp.feed(client, 0)
    recs = drain_records(rp)
    assert rp.is_sslv2 and [r.header_length for r in recs] == [2, 2, 2, 3]
    assert recs[3].padding == 5
    hr = HandshakeReassembler()
    for rec in recs:
        hr.feed(rec)
    assert [i.msg_type for i in hr if isinstance(i, SSLv2Message)] == [1, 2, None, None]
    server = v2_record(M.build_sslv2(V2_CASES[2])) + v2_record(bytes(30))
    rp2, hr2 = RecordParser(), HandshakeReassembler()
    rp2.feed(server, 0)
    for rec in drain_records(rp2):
        hr2.feed(rec)
    assert [i.msg_type for i in hr2 if isinstance(i, SSLv2Message)] == [4, None]


# -- handshake reassembly ---------------------------------------------------------------------


def items_of(stream: bytes, *, version: int | None = None,
             on_item: Callable[[HandshakeReassembler, Item], None] | None = None) -> list[Any]:
    rp, hr = RecordParser(), HandshakeReassembler(version=version)
    rp.feed(stream, 0)
    out: list[Any] = []
    for rec in drain_records(rp):
        hr.feed(rec)
        while True:
            try:
                item = hr.next_item()
            except MalformedError as err:
                out.append(err)
                continue
            if item is None:
                break
            out.append(item)
            if on_item is not None:
                on_item(hr, item)
    return out


def test_messages_span_records_and_share_them() -> None:
    ch = M.build_handshake(client_hello_13())
    shd = M.build_handshake(M.ServerHelloDone())
    fin = M.build_handshake(M.Finished(bytes(12)))
    stream = (record(22, ch[:3]) + record(22, ch[3:100]) + record(22, ch[100:] + shd + fin[:2])
              + record(22, fin[2:]))
    out = items_of(stream)
    assert [(i.msg_type, i.records) for i in out] == [(1, 3), (14, 1), (20, 2)]
    assert out[0].stream_offset == 5 and out[0].body == ch[4:]
    # the ClientHello ends in the third record, the Finished in the fourth
    third_end = 5 + 3 + 5 + 97 + 5 + len(ch) - 100 + len(shd) + 2
    assert out[0].complete_at == out[1].complete_at == third_end - 1
    assert out[0].end_offset == third_end - len(shd) - 2
    assert out[2].stream_offset == third_end - 2 and out[2].complete_at == len(stream) - 1


def test_tls12_is_encrypted_after_change_cipher_spec() -> None:
    stream = (record(22, M.build_handshake(M.ServerHelloDone())) + record(21, b"\x01\x00")
              + record(20, b"\x01") + record(22, bytes(40)) + record(21, bytes(26))
              + record(23, bytes(50)) + record(24, bytes(19)))
    out = items_of(stream)
    assert [type(i).__name__ for i in out] == [
        "Handshake", "Alert", "ChangeCipherSpec", "EncryptedRecord", "EncryptedRecord",
        "ApplicationData", "EncryptedRecord"]
    assert (out[1].level, out[1].description) == (1, 0)
    assert out[3].content_type == 22 and out[3].length == 40
    assert isinstance(out[5], ApplicationData) and out[5].length == 50


def test_tls13_change_cipher_spec_is_a_dummy() -> None:
    """HelloRetryRequest, the client's compatibility CCS, then a second plaintext ClientHello."""
    ch = M.build_handshake(client_hello_13())
    client = record(22, ch) + record(20, b"\x01") + record(22, ch) + record(23, bytes(60))

    out = items_of(client)  # without the version, CCS switches to "encrypted"
    assert isinstance(out[2], EncryptedRecord)
    out = items_of(client, version=0x0304)
    assert [type(i).__name__ for i in out] == [
        "Handshake", "ChangeCipherSpec", "Handshake", "ApplicationData"]

    server = (record(22, M.build_handshake(SERVER_HELLO_13)) + record(20, b"\x01")
              + record(23, bytes(30)) + record(21, b"\x02\x28"))

    def learn(hr: HandshakeReassembler, item: Item) -> None:
        if isinstance(item, Handshake) and item.msg_type == 2:
            hr.set_version(0x0304)

    out = items_of(server, on_item=learn)
    assert [type(i).__name__ for i in out] == [
        "Handshake", "ChangeCipherSpec", "ApplicationData", "Alert"]


def test_alerts_heartbeats_and_bad_records() -> None:
    out = items_of(record(21, b"\x02\x28\x01\x00") + record(21, b"\x07\x07\x07"))
    assert [(i.level, i.description) for i in out[:2]] == [(2, 40), (1, 0)]
    assert isinstance(out[2], EncryptedRecord) and out[2].content_type == 21
    # Heartbleed: payload_length far larger than what was sent
    out = items_of(record(24, b"\x01\x40\x00" + b"hi" + bytes(16)))
    hb = out[0]
    assert isinstance(hb, HeartbeatMessage) and hb.payload_length == 0x4000
    assert hb.payload == b"hi" + bytes(16) and hb.padding == b""
    out = items_of(record(24, b"\x01\x00\x02hi" + bytes(16)))
    assert out[0].payload == b"hi" and out[0].padding == bytes(16)
    out = items_of(record(20, b"\x01\x01"))
    assert isinstance(out[0], MalformedError) and out[0].field == "change_cipher_spec"


def test_reassembler_errors_are_in_stream_order_and_recoverable() -> None:
    fin = M.build_handshake(M.Finished(bytes(12)))
    stream = record(22, fin + fin[:6]) + record(20, b"\x01") + record(23, bytes(5))
    out = items_of(stream)
    assert isinstance(out[0], Handshake)
    assert isinstance(out[1], MalformedError) and "middle of a handshake" in out[1].reason
    assert isinstance(out[2], ChangeCipherSpec) and isinstance(out[3], ApplicationData)
    huge = b"\x0b" + (MAX_HANDSHAKE_LENGTH + 1).to_bytes(3, "big")
    out = items_of(record(22, huge) + record(22, M.build_handshake(M.ServerHelloDone())))
    assert isinstance(out[0], MalformedError) and "MAX_HANDSHAKE_LENGTH" in out[0].reason
    assert isinstance(out[1], Handshake) and out[1].msg_type == 14


def test_gap_drops_a_partial_message() -> None:
    ch = M.build_handshake(client_hello_13())
    rp, hr = RecordParser(), HandshakeReassembler()
    rp.feed(record(22, ch[:50]), 0)
    rp.feed(record(22, M.build_handshake(M.ServerHelloDone())), 500)
    for rec in drain_records(rp):
        hr.feed(rec)
    out = list(hr)
    assert isinstance(out[0], RecordGap) and hr.partial == 0
    assert isinstance(out[-1], Handshake) and out[-1].msg_type == 14


def test_frame_index() -> None:
    fi = FrameIndex()
    for offset, length, frame in ((0, 100, 4), (100, 50, 9), (150, 50, 7)):
        fi.add(offset, length, frame)
    assert fi.frame_at(0) == 4 and fi.frame_at(149) == 9 and fi.frame_at(200) is None
    assert fi.completing_frame(10, 99) == 4
    assert fi.completing_frame(90, 199) == 9  # frame 9 came last: it completed them
    assert fi.completing_frame(160, 170) == 7
    fi.forget_before(100)
    assert fi.frame_at(50) is None and fi.frame_at(120) == 9
    with pytest.raises(ValueError):
        fi.add(180, 10, 11)


# -- fingerprints -----------------------------------------------------------------------------


def hello_for_ja3(version: int, ciphers: tuple[int, ...], exts: tuple[int, ...],
                  groups: tuple[int, ...], formats: tuple[int, ...]) -> M.ClientHello:
    out: list[X.Extension] = []
    for t in exts:
        if t == X.SUPPORTED_GROUPS:
            out.append(ext(t, X.NamedGroupList(groups)))
        elif t == X.EC_POINT_FORMATS:
            out.append(ext(t, X.ECPointFormatList(formats)))
        else:
            out.append(X.Extension(t, b""))
    return M.ClientHello(version, RANDOM, b"", ciphers, b"\x00", tuple(out) if exts else None)


def test_ja3_readme_examples() -> None:
    """The two examples of salesforce/ja3's README, with their MD5s."""
    h = hello_for_ja3(769, (47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4),
                      (0, 10, 11), (23, 24, 25), (0,))
    assert F.ja3_string(h) == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    assert F.ja3(h) == "ada70206e40642a3e4461f35503241d5"
    h = hello_for_ja3(769, (4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99), (), (), ())
    assert F.ja3_string(h) == "769,4-5-10-9-100-98-3-6-19-18-99,,,"
    assert F.ja3(h) == "de350869b8c85de67a350c8d186f11e6"


def test_ja3_and_ja3s_leave_grease_out() -> None:
    h = client_hello_13()
    s = F.ja3_string(h)
    assert str(GREASE_A) not in s and str(GREASE_B) not in s
    assert s.startswith("771,4865-4866-49199-255,0-23-65281-10-11-35-16-5-13-51-45-43-27-28-22-")
    assert ",29-23-24,0" in s
    assert F.ja3s_string(SERVER_HELLO_12) == "771,49199,65281-0-11-35-5-16-23"
    assert F.ja3s(SERVER_HELLO_12) == hashlib.md5(b"771,49199,65281-0-11-35-5-16-23").hexdigest()


# FoxIO-LLC/ja4 technical_details/JA4.md, section "Example" and "Raw Output"
JA4_SPEC_CIPHERS = "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
JA4_SPEC_EXTS = "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"
JA4_SPEC_SIGALGS = "0403,0804,0401,0503,0805,0501,0806,0601"


def ja4_spec_hello(alpn: bytes | None = b"h2", grease: bool = True) -> M.ClientHello:
    exts: list[X.Extension] = [X.Extension(GREASE_A, b"")] if grease else []
    for code in (int(x, 16) for x in JA4_SPEC_EXTS.split(",")):
        if code == X.ALPN:
            if alpn is None:
                continue
            exts.append(ext(code, X.ProtocolNameList((alpn, b"http/1.1"))))
        elif code == X.SIGNATURE_ALGORITHMS:
            exts.append(ext(code, X.SignatureSchemeList(tuple(
                int(x, 16) for x in JA4_SPEC_SIGALGS.split(",")))))
        elif code == X.SUPPORTED_VERSIONS:
            exts.append(ext(code, X.SupportedVersions(versions=(GREASE_B, 0x0304, 0x0303))))
        else:
            exts.append(X.Extension(code, b""))
    ciphers = ((GREASE_B,) if grease else ()) + tuple(
        int(x, 16) for x in JA4_SPEC_CIPHERS.split(","))
    return M.ClientHello(0x0303, RANDOM, b"", ciphers, b"\x00", tuple(exts))


def test_ja4_spec_example() -> None:
    h = ja4_spec_hello()
    assert F.ja4(h) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert F.ja4_r(h) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        + JA4_SPEC_SIGALGS)
    assert F.ja4_ro(h) == f"t13d1516h2_{JA4_SPEC_CIPHERS}_{JA4_SPEC_EXTS}_{JA4_SPEC_SIGALGS}"
    assert F.ja4_o(h) == "t13d1516h2_acb858a92679_18f69afefd3d"
    assert F.ja4(h, transport="q").startswith("q13d1516h2_")
    assert F.ja4(ja4_spec_hello(grease=False)) == F.ja4(h)


def test_ja4_alpn_and_empty_rules() -> None:
    def alpn_part(value: bytes | None) -> str:
        return F.ja4(ja4_spec_hello(alpn=value)).split("_")[0][-2:]

    assert alpn_part(b"http/1.1") == "h1"
    assert alpn_part(b"h") == "hh"
    assert alpn_part(None) == "00"
    assert alpn_part(b"\xab") == "ab"
    assert alpn_part(b"\xab\xcd") == "ad"
    assert alpn_part(b"\x30\xab") == "3b"
    assert alpn_part(b"\x30\x31\xab\xcd") == "3d"
    assert alpn_part(b"\x30\xab\xcd\x31") == "01"
    bare = M.ClientHello(0x0301, RANDOM, b"", (), b"\x00", None)
    assert F.ja4(bare) == "t10i000000_000000000000_000000000000"
    # no signature algorithms: the extension list alone, without a trailing "_"
    h = hello_for_ja3(0x0303, (0x002F,), (10, 11), (23,), (0,))
    assert F.ja4_r(h) == "t12i010200_002f_000a,000b"
    assert F.ja4(h).endswith("_" + hashlib.sha256(b"000a,000b").hexdigest()[:12])


# -- properties: random bytes never escape as anything but our errors -------------------------

VERSIONS = [None, 0x0300, 0x0301, 0x0303, 0x0304]
KXS = [None, "rsa", "dhe", "ecdhe", "dh_anon", "ecdh", "psk", "rsa_psk", "dhe_psk", "ecdhe_psk",
       "srp", "tls13"]
CONTEXTS: list[X.Context] = ["client_hello", "server_hello", "hello_retry_request",
                             "encrypted_extensions", "certificate", "certificate_request",
                             "new_session_ticket"]


@FAST
@given(msg_type=st.sampled_from([0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 25,
                                 99]),
       body=st.binary(max_size=300), version=st.sampled_from(VERSIONS),
       kx=st.sampled_from(KXS))
def test_random_bodies_raise_only_malformed(msg_type: int, body: bytes, version: int | None,
                                            kx: str | None) -> None:
    try:
        msg = M.parse_handshake(msg_type, body, version=version, kx=kx)
    except MalformedError:
        return
    assert M.build_handshake_body(msg) == body  # whatever parses, builds back


@FAST
@given(body=st.binary(max_size=200), prefix=st.sampled_from([b"", b"\x03\x03" + RANDOM]))
def test_random_hellos_with_real_prefix(body: bytes, prefix: bytes) -> None:
    for t in (1, 2):
        try:
            msg = M.parse_handshake(t, prefix + body)
        except MalformedError:
            continue
        assert M.build_handshake_body(msg) == prefix + body


@FAST
@given(ext_type=st.sampled_from([0, 5, 10, 11, 13, 16, 21, 22, 23, 27, 28, 35, 40, 41, 42, 43,
                                 44, 45, 49, 50, 51, 0xFF01, 0x0A0A, 1234]),
       data=st.binary(max_size=80), context=st.sampled_from(CONTEXTS))
def test_random_extensions(ext_type: int, data: bytes, context: X.Context) -> None:
    raw = ext_type.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    try:
        e = X.pull_extension(Buffer(raw, complete=True), context)
    except MalformedError:
        return
    assert e.extension_data == data
    assert e.value is None or X.build_extension_data(e.value) == data


@FAST
@given(data=st.binary(max_size=200))
def test_random_sslv2(data: bytes) -> None:
    try:
        msg = M.parse_sslv2(data)
    except MalformedError:
        return
    assert M.build_sslv2(msg) == data


@FAST
@given(chunks=st.lists(st.binary(max_size=60), max_size=12), version=st.sampled_from(VERSIONS))
def test_random_streams_never_escape(chunks: list[bytes], version: int | None) -> None:
    rp, hr = RecordParser(), HandshakeReassembler(version=version)
    offset = 0
    for chunk in chunks:
        rp.feed(b"\x16\x03\x01" + chunk if offset == 0 else chunk, offset)
        offset = rp.next_offset
        while True:
            try:
                rec = rp.next_record()
            except HandshakerError:
                continue
            if rec is None:
                break
            hr.feed(rec)
        while True:
            try:
                item = hr.next_item()
            except HandshakerError:
                continue
            if item is None:
                break
            if isinstance(item, Handshake):
                with contextlib.suppress(HandshakerError):
                    M.parse_handshake(item.msg_type, item.body, version=version)


@cache
def real_bodies() -> list[tuple[int, bytes, int | None, str | None]]:
    """(msg_type, body, version, kx) of real handshake messages from a few corpus captures."""
    try:
        from test_tls_corpus import ours
    except ImportError:  # pragma: no cover
        return []
    out = []
    for rel in ("zeek/tls/client-certificate.pcap", "ja4/tls-handshake.pcapng",
                "lekensteyn/tls/mysql-ssl.pcapng", "zeek/tls/tls13-ech.pcap"):
        try:
            results = ours(rel)
        except HandshakerError:  # pragma: no cover - a missing corpus file
            continue
        for r in results.values():
            out += [(pm.item.msg_type, pm.item.body, pm.version, pm.kx) for pm in r.messages
                    if isinstance(pm.item, Handshake)]
    return out


@FAST
@given(data=st.data())
def test_mutated_real_messages_raise_only_malformed(data: st.DataObject) -> None:
    """Adversarial input close to the real thing: real bodies with bytes changed, cut, added."""
    bodies = real_bodies()
    require(bool(bodies), "corpus not available")
    msg_type, body, version, kx = data.draw(st.sampled_from(bodies), label="message")
    mutated = bytearray(body)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        if not mutated:
            break
        at = data.draw(st.integers(0, len(mutated) - 1), label="at")
        op = data.draw(st.sampled_from(["set", "cut", "insert", "truncate"]), label="op")
        if op == "set":
            mutated[at] = data.draw(st.integers(0, 255), label="byte")
        elif op == "cut":
            del mutated[at:at + data.draw(st.integers(1, 8), label="n")]
        elif op == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
        else:
            del mutated[at:]
    version = data.draw(st.sampled_from([version, None, 0x0301, 0x0304]), label="version")
    kx = data.draw(st.sampled_from([kx, None, "dhe", "ecdhe", "rsa", "psk"]), label="kx")
    try:
        msg = M.parse_handshake(msg_type, bytes(mutated), version=version, kx=kx)
    except MalformedError:
        return
    assert M.build_handshake_body(msg) == bytes(mutated)


@FAST
@given(data=st.binary(min_size=1, max_size=64))
def test_random_buffer_reads(data: bytes) -> None:
    buf = Buffer(data)
    try:
        with buf.pull_block(1):
            while not buf.eof():
                buf.pull_vector(1)
        buf.pull_uint24()
    except (TruncatedError, MalformedError) as err:
        assert err.offset is not None and 0 <= err.offset <= len(data)


# -- properties: segmentation of real handshake streams does not matter -----------------------


@cache
def real_streams() -> list[tuple[str, bytes]]:
    """Real client and server handshake byte streams (from the corpus)."""
    try:
        from test_tls_corpus import all_handshake_streams
    except ImportError:  # pragma: no cover
        return []
    return [(f"{rel}#{n}/{d}", data) for rel, n, d, data in all_handshake_streams()]


def summary(item: Any) -> tuple[Any, ...]:
    if isinstance(item, Handshake):
        return ("hs", item.msg_type, item.body, item.stream_offset, item.end_offset,
                item.complete_at)
    if isinstance(item, MalformedError):
        return ("err", item.reason, item.offset)
    if isinstance(item, Alert | ChangeCipherSpec | ApplicationData | EncryptedRecord):
        return (type(item).__name__, item.stream_offset, item.complete_at)
    return (type(item).__name__, item)


def run_chunks(data: bytes, cuts: list[int], version_from_hello: bool = True) -> list[Any]:
    rp, hr = RecordParser(), HandshakeReassembler()
    out: list[Any] = []
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
    for a, b in itertools.pairwise(bounds):
        rp.feed(data[a:b], a)
        while True:
            try:
                rec = rp.next_record()
            except MalformedError as err:
                out.append(err)
                continue
            if rec is None:
                break
            hr.feed(rec)
            while True:
                try:
                    item = hr.next_item()
                except MalformedError as err:
                    out.append(err)
                    continue
                if item is None:
                    break
                out.append(item)
                if version_from_hello and isinstance(item, Handshake) and item.msg_type == 2:
                    sh = M.parse_handshake(2, item.body)
                    assert isinstance(sh, M.ServerHello)
                    hr.set_version(sh.selected_version)
    return [summary(i) for i in out]


def test_real_streams_are_available() -> None:
    streams = real_streams()
    require(bool(streams), "corpus not available")
    assert len(streams) >= 4


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_segmentation_of_real_streams(data: st.DataObject) -> None:
    streams = real_streams()
    require(bool(streams), "corpus not available")
    name, raw = data.draw(st.sampled_from(streams), label="stream")
    whole = run_chunks(raw, [])
    assert any(s[0] == "hs" for s in whole), name
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40), label="cuts")
    assert run_chunks(raw, cuts) == whole, name
    # and byte by byte over the first records
    head = raw[:600]
    assert run_chunks(head, list(range(len(head)))) == run_chunks(head, [])
