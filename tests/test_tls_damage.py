"""Damaged TLS in a capture: a diagnostic naming the frame and the stream offset on that
session, and the rest of the analysis intact (issue 3, "Bad input").

The TLS bytes are real (the tour's TLS 1.2 RSA capture, made by OpenSSL); each stream of
the capture built here carries them with one kind of damage: a handshake length that lies
(2^24 - 1), a record length over the limit, an extension block that does not add up, a
certificate that does not parse. A last stream carries them undamaged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from capture_writers import pcap_file
from tcp_synth import ACK, PSH, SYN, Conversation, new_conversation

from handshaker.analysis import analyze
from handshaker.flow.tcp import TcpSummary
from handshaker.tls.records import MAX_RECORD_LENGTH
from handshaker.tls.session import TlsSession

TOUR_RSA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data" / \
    "tour-tls12-rsa.pcap"


def _records(data: bytes) -> list[bytes]:
    out = []
    while data:
        n = 5 + int.from_bytes(data[3:5], "big")
        out.append(data[:n])
        data = data[n:]
    return out


@pytest.fixture(scope="module")
def real_flights() -> tuple[bytes, list[bytes]]:
    """The tour's ClientHello record and the server's first flight, record by record."""
    a = analyze(TOUR_RSA, keep_tcp=lambda n: n == 0)
    st = a.kept[0]
    assert st.segments is not None
    client = b"".join(s.payload for s in st.segments if s.sender == 0)
    server = b"".join(s.payload for s in st.segments if s.sender == 1)
    hello = _records(client)[0]
    flight = []
    for rec in _records(server):
        if rec[0] != 22:
            break
        flight.append(rec)
    assert hello[5] == 1 and flight[0][5] == 2  # ClientHello; ServerHello first
    return hello, flight


def _certificate_record(flight: list[bytes]) -> int:
    return next(i for i, r in enumerate(flight) if r[5] == 11)


def _conversation(port: int, t_us: int, hello: bytes, flight: list[bytes]
                  ) -> tuple[Conversation, int, int]:
    """Handshake, the ClientHello, the server's flight (one record a segment); returns
    the conversation and the frame numbers (within it) of the ClientHello and of the
    server's first record."""
    c = new_conversation(1000 + port, 5000 + port, cport=port, sport=443)
    c.t_us = t_us
    c.send("c", SYN)
    c.send("s", SYN | ACK)
    c.ack("c")
    c.send("c", PSH | ACK, hello)
    hello_frame = len(c.records)
    c.ack("s")
    first = len(c.records) + 1
    for rec in flight:
        c.send("s", PSH | ACK, rec)
    c.ack("c")
    return c, hello_frame, first


def _session(path: Path, stream: int) -> TlsSession:
    a = analyze(path, tls_detail=True)
    conn = next(c for c in a.tcp if isinstance(c, TcpSummary) and c.stream == stream)
    assert conn.tls is not None, f"stream {stream} lost its TLS session"
    return conn.tls


def test_damaged_sessions_are_named_and_the_rest_is_intact(
        tmp_path: Path, real_flights: tuple[bytes, list[bytes]]) -> None:
    hello, flight = real_flights
    lying_handshake = hello[:6] + b"\xff\xff\xff" + hello[9:]  # length 2^24 - 1
    lying_record = hello[:3] + (MAX_RECORD_LENGTH + 1).to_bytes(2, "big") + hello[5:]
    # the extensions block of the ClientHello: its length field says one byte more
    body = hello[9:]
    p = 34
    p += 1 + body[p]  # session id
    p += 2 + int.from_bytes(body[p:p + 2], "big")  # cipher suites
    p += 1 + body[p]  # compression methods
    ext_len = int.from_bytes(body[p:p + 2], "big")
    bad_extensions = hello[:9 + p] + (ext_len + 1).to_bytes(2, "big") + hello[9 + p + 2:]
    ci = _certificate_record(flight)
    cert = flight[ci]
    der_at = 5 + 4 + 3 + 3  # record, handshake header, list length, first entry's length
    assert cert[der_at] == 0x30  # a DER SEQUENCE
    bad_cert = cert[:der_at] + b"\x31" + cert[der_at + 1:]
    broken_flight = [*flight[:ci], bad_cert, *flight[ci + 1:]]

    cases = [  # (client hello, server flight)
        (lying_handshake, flight),
        (lying_record, flight),
        (bad_extensions, flight),
        (hello, broken_flight),
        (hello, flight),
    ]
    records = []
    frames = []
    for i, (h, f) in enumerate(cases):
        c, hello_frame, first = _conversation(40000 + i, 1_000_000 + i * 1_000_000, h, f)
        frames.append((len(records) + hello_frame, len(records) + first))
        records.extend(c.records)
    path = tmp_path / "damaged-tls.pcap"
    path.write_bytes(pcap_file(records))

    good = _session(path, 4)
    assert (good.version, good.key_exchange, good.diagnostics) == ("TLS 1.2", "rsa", [])
    assert good.certificates and "error" not in good.certificates[0]

    # a handshake length that lies: the message is dropped where it starts
    s = _session(path, 0)
    hello_frame = frames[0][0]
    assert s.diagnostics == [
        f"frame {hello_frame}: client handshake at stream offset 6 (field length): "
        "handshake message length 16777215 exceeds MAX_HANDSHAKE_LENGTH (1048576)"]
    assert s.version == "TLS 1.2"  # the server's flight is still read

    # a record length over the limit: the client's records are given up from there
    s = _session(path, 1)
    assert len(s.diagnostics) == 2
    assert s.diagnostics[0].startswith(
        f"frame {frames[1][0]}: client record at stream offset 3 (field length): "
        f"record length {MAX_RECORD_LENGTH + 1} exceeds MAX_RECORD_LENGTH")
    assert s.diagnostics[1] == (f"frame {frames[1][0]}: client records: {len(hello)} bytes "
                                "skipped at stream offset 0 (unreadable after a malformed "
                                "record header)")
    assert s.version == "TLS 1.2"

    # an extension block that does not add up: named, with where it was read
    s = _session(path, 2)
    assert len(s.diagnostics) == 1 and s.diagnostics[0].startswith(
        f"frame {frames[2][0]}: client client_hello at stream offset ")
    assert s.sni is None and s.version == "TLS 1.2"
    assert [m.type for m in s.messages][:2] == ["client_hello", "server_hello"]

    # a certificate that does not parse: its entry says so, and a diagnostic names it
    s = _session(path, 3)
    cert_frame = frames[3][1] + ci
    assert s.certificates[0]["error"]
    assert len(s.diagnostics) == 1 and s.diagnostics[0].startswith(
        f"frame {cert_frame}: server certificate 1 of {len(s.certificates)} at stream "
        f"offset {sum(len(r) for r in flight[:ci]) + der_at} does not parse: ")
    assert (s.version, s.key_exchange, s.sni) == (good.version, good.key_exchange, good.sni)
    assert s.verification is not None and not s.verification["ok"]

    # the commands show it all, without a traceback
    for args in (["tls", str(path), "--no-color"], ["analyze", str(path), "--format", "json"],
                 ["ladder", str(path), "--stream", "3", "--no-color"]):
        out = subprocess.run([sys.executable, "-m", "handshaker", *args], capture_output=True,
                             text=True, timeout=120, check=False)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    tls_text = subprocess.run([sys.executable, "-m", "handshaker", "tls", str(path),
                               "--no-color"], capture_output=True, text=True, timeout=120,
                              check=False).stdout
    assert "does not parse" in tls_text and "exceeds MAX_HANDSHAKE_LENGTH" in tls_text
