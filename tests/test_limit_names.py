"""Every limit with a diagnostic: input past it, the diagnostic names it, memory stays bounded.

One case per limit of docs/robustness.md that answers with a diagnostic (the
connection limits are in test_limits.py). Each case builds input beyond its
limit at the default value where that is cheap, or lowers the limit where the
input would be large, and measures the traced memory of reading it.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_writers import pcap_file

import handshaker.tls.observer as observer
from handshaker.analysis import analyze
from handshaker.capture import open_capture
from handshaker.errors import HandshakerError, UsageError
from handshaker.flow.reassembly import Reassembler
from handshaker.flow.synth import tcp_conversation
from handshaker.tls.keys import MAX_KEY_FILE_BYTES, MAX_KEYLOG_BYTES, KeyLog, load_rsa_key
from handshaker.tls.records import RecordParser

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "data"
GOOD = DATA / "tour-tcp.pcap"
BUDGET = 32 << 20  # traced bytes any of these may take at its peak


def traced(fn: Callable[[], list[str]]) -> tuple[list[str], int]:
    tracemalloc.start()
    try:
        texts = fn()
        return texts, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def diagnostics_of(path: Path) -> list[str]:
    with open_capture(path) as cap:
        for _ in cap.batches():
            pass
        return [str(d) for d in cap.diagnostics]


def case_max_record(tmp: Path) -> list[str]:
    data = bytearray(GOOD.read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFF_FFFF)  # the first record claims 2 GB
    (tmp / "r.pcap").write_bytes(bytes(data))
    return diagnostics_of(tmp / "r.pcap")


def case_max_block(tmp: Path) -> list[str]:
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    epb = struct.pack("<II", 6, 0x7FFF_FFF0) + bytes(40)  # an EPB claiming 2 GB
    (tmp / "b.pcapng").write_bytes(shb + idb + epb)
    return diagnostics_of(tmp / "b.pcapng")


def reassembly_events(feed: Callable[[Reassembler], None]) -> list[str]:
    r = Reassembler(0)
    feed(r)
    while r.read()[0]:
        pass
    return [e.detail for e in r.take_events()]


def case_max_pending_segments(tmp: Path) -> list[str]:
    def feed(r: Reassembler) -> None:  # a hole at 1, then 5,000 one-byte segments after it
        for i in range(5_000):
            r.add(i + 3, 1 + 1 + 2 * i, b"x")
    return reassembly_events(feed)


def case_max_pending_bytes(tmp: Path) -> list[str]:
    def feed(r: Reassembler) -> None:  # a hole at 1, then 3 MB waiting behind it
        for i in range(300):
            r.add(i + 3, 2 + 10_000 * i, bytes(10_000))
    return reassembly_events(feed)


def case_max_unread_bytes(tmp: Path) -> list[str]:
    r = Reassembler(0, max_unread_bytes=1 << 20)  # nobody reads: 3 MB in order
    for i in range(300):
        r.add(i + 2, 1 + 10_000 * i, bytes(10_000))
    return [e.detail for e in r.take_events()]


def case_max_events(tmp: Path) -> list[str]:
    def feed(r: Reassembler) -> None:  # the first byte, then 6,000 copies that differ
        r.add(2, 1, b"a")
        r.read()
        for i in range(6_000):
            r.add(i + 3, 1, bytes([i % 200 + 50]))
    return reassembly_events(feed)


def records_damage(data: bytes) -> list[str]:
    p = RecordParser()
    p.feed(data, 0)
    texts = []
    for _ in range(10):
        try:
            if p.next_record() is None:
                break
        except HandshakerError as err:
            texts.append(str(err))
    return texts


def case_max_record_length(tmp: Path) -> list[str]:
    return records_damage(b"\x16\x03\x03\xff\xff" + bytes(100))


def case_max_handshake_bytes(tmp: Path) -> list[str]:
    """A client that sends 1.2 MB of handshake records and no server that answers."""
    junk = b"".join(b"\x16\x03\x03\x40\x00" + b"\xfe" + (0x3FFC).to_bytes(3, "big")
                    + bytes(0x3FFC) for _ in range(75))
    hello = bytes.fromhex("16030100310100002d0303") + bytes(32) + bytes.fromhex("000002c02f0100")
    pkts = tcp_conversation(("10.0.0.2", 40000), ("10.0.0.1", 443),
                            [(True, 1_700_000_000 * 10**9, hello + junk)])
    path = tmp / "hs.pcap"
    path.write_bytes(pcap_file([(t // 10**9, t % 10**9 // 1000, p, len(p)) for t, p in pkts],
                               linktype=101))
    out: list = []
    analyze(path, on_connection=out.append)
    return [n for c in out if c.tls for n in c.tls.diagnostics]


def case_max_keylog_bytes(tmp: Path) -> list[str]:
    path = tmp / "big.keylog"
    with open(path, "wb") as f:
        f.truncate(MAX_KEYLOG_BYTES + 1)  # sparse: nothing is written
    try:
        KeyLog().add_file(path)
    except UsageError as err:
        return [str(err)]
    return []


def case_max_key_file_bytes(tmp: Path) -> list[str]:
    path = tmp / "big.key.pem"
    with open(path, "wb") as f:
        f.truncate(MAX_KEY_FILE_BYTES + 1)
    try:
        load_rsa_key(path)
    except UsageError as err:
        return [str(err)]
    return []


def case_max_certificate_bytes(tmp: Path) -> list[str]:
    from handshaker.tls.certs import parse_certificate

    der = b"\x30\x83" + (600_000).to_bytes(3, "big") + bytes(600_000)  # a 600 KB SEQUENCE
    try:
        parse_certificate(der)
    except HandshakerError as err:
        return [str(err)]
    return []


CASES = {
    "MAX_CERTIFICATE_BYTES": case_max_certificate_bytes,
    "MAX_RECORD": case_max_record,
    "MAX_BLOCK": case_max_block,
    "MAX_PENDING_SEGMENTS": case_max_pending_segments,
    "MAX_PENDING_BYTES": case_max_pending_bytes,
    "MAX_UNREAD_BYTES": case_max_unread_bytes,
    "MAX_EVENTS": case_max_events,
    "MAX_RECORD_LENGTH": case_max_record_length,
    "MAX_HANDSHAKE_BYTES": case_max_handshake_bytes,
    "MAX_KEYLOG_BYTES": case_max_keylog_bytes,
    "MAX_KEY_FILE_BYTES": case_max_key_file_bytes,
}


@pytest.mark.parametrize("limit", sorted(CASES))
def test_the_diagnostic_names_the_limit_and_memory_stays_bounded(limit: str,
                                                                  tmp_path: Path) -> None:
    texts, peak = traced(lambda: CASES[limit](tmp_path))
    assert any(limit in t for t in texts), texts
    assert peak < BUDGET, peak


def test_handshake_bytes_default() -> None:
    assert observer.MAX_HANDSHAKE_BYTES == 1 << 20  # the case above sends 1.2 MB
