"""Fuzz targets: each takes arbitrary bytes and drives one part of handshaker with them.

The rule every target checks: whatever the bytes, the only thing allowed to
escape is a :class:`~handshaker.errors.HandshakerError` (or a diagnostic);
any other exception is a crash, which the fuzzer saves and which becomes a
regression test (``fuzz/regressions/TARGET/``, replayed by
``tests/test_fuzz_regressions.py``).

Targets (``TARGETS``): ``capture`` (pcap/pcapng/gzip reading, then the
columnar decoder and the whole flow stage, the TLS reader in both its
modes), ``packet`` (the per-packet
decoder, every link type), ``reassembly`` (TCP reassembly from a script of
segments), ``tls`` (the record layer, handshake reassembly and every
handshake message parser, both directions through the observer's parsers),
``x509`` (certificate parsing and the chain check), ``keylog`` (key log
text), ``decrypt`` (record decryption under keys and suites chosen by the
input).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

from handshaker.errors import HandshakerError

#: a limit on what one input may make a target do (frames read, records parsed)
MAX_ITEMS = 10_000


def fuzz_capture(data: bytes) -> None:
    from handshaker.analysis import Pipeline
    from handshaker.capture.reader import _open_stream

    try:
        cap = _open_stream("<fuzz>", io.BytesIO(data), None, 1 << 16)
    except HandshakerError:
        return
    # the TLS reader both ways: every record (the tls command), and the summary's light
    # mode (analyze: the lite and lean readings, then the record layer where they stop)
    pipes = [Pipeline(tls=True, tls_detail=True), Pipeline(tls=True)]
    n = 0
    with cap:
        for batch in cap.batches(256):
            for pipe in pipes:
                pipe.feed(batch)
            n += len(batch)
            if n > MAX_ITEMS:
                break
    for pipe in pipes:
        pipe.close()
    _ = cap.diagnostics


def fuzz_packet(data: bytes) -> None:
    from handshaker.capture.model import LINKTYPE_NAMES, Frame
    from handshaker.dissect.packet import decode
    from handshaker.render.layers import layers_json

    if not data:
        return
    linktypes = sorted(LINKTYPE_NAMES)
    linktype = linktypes[data[0] % len(linktypes)]
    body = data[1:]
    frame = Frame(number=1, ts_ns=0, linktype=linktype, data=body, wirelen=len(body),
                  interface=0, file_offset=0)
    layers_json(decode(frame))


def fuzz_reassembly(data: bytes) -> None:
    """A script: each 8-byte step is (seq delta, length, flags) applied to one direction."""
    from handshaker.flow.reassembly import Reassembler

    r = Reassembler(data[0] << 24 if data else None)
    seq = 1
    for i in range(1, len(data) - 7, 8):
        step = data[i:i + 8]
        seq = (seq + int.from_bytes(step[0:4], "big", signed=True) % 70000) & 0xFFFFFFFF
        length = int.from_bytes(step[4:6], "big") % 3000
        payload = bytes([step[6]]) * length
        if step[7] & 1:
            r.add(i, seq, payload, syn=bool(step[7] & 2))
        elif step[7] & 4:
            r.ack(i, seq)
        else:
            r.pass_through(seq, payload)
        while True:
            out, _ = r.read()
            if not out:
                break
        r.take_events()


def fuzz_tls(data: bytes) -> None:
    """Both directions of a TLS stream (split at the first 0xFF byte), through the
    record parser, the handshake reassembler and every message parser."""
    from handshaker.tls import messages as msg
    from handshaker.tls.records import Handshake, HandshakeReassembler, RecordParser

    at = data.find(b"\xff")
    halves = (data, b"") if at < 0 else (data[:at], data[at + 1:])
    version = None
    for half in halves:
        parser = RecordParser()
        hs = HandshakeReassembler(version=version)
        parser.feed(half, 0)
        n = 0
        while n < MAX_ITEMS:
            try:
                rec = parser.next_record()
            except HandshakerError:
                continue
            if rec is None:
                break
            n += 1
            hs.feed(rec)
            while True:
                try:
                    item = hs.next_item()
                except HandshakerError:
                    continue
                if item is None:
                    break
                if isinstance(item, Handshake):
                    for kx in (None, "rsa", "ecdhe", "dhe"):
                        try:
                            m = msg.parse_handshake(item.msg_type, item.body,
                                                    version=version, kx=kx)
                        except HandshakerError:
                            continue
                        if isinstance(m, msg.ServerHello):
                            version = 0x0304 if item.body[:2] == b"\x03\x03" and \
                                b"\x00\x2b\x00\x02\x03\x04" in item.body else 0x0303
                            hs.set_version(version)


def fuzz_x509(data: bytes) -> None:
    from handshaker.tls.certs import parse_certificate, verify_chain

    with contextlib.suppress(HandshakerError):
        parse_certificate(data)
    verify_chain([data], at_ns=0, server_name="example.test", system_store=False)


def fuzz_keylog(data: bytes) -> None:
    from handshaker.tls.keys import KeyLog

    log = KeyLog()
    log.add_text(data.decode("utf-8", "replace"), "<fuzz>")
    for (label, rnd), _ in list(log.secrets.items())[:10]:
        log.get(label, rnd)


def fuzz_decrypt(data: bytes) -> None:
    """Record decryption: the first bytes choose a suite, a version and the keys; the
    rest are records (type, length, fragment)."""
    from handshaker.tls.decrypt import (
        DecryptError,
        RecordDecryptor,
        Tls13RecordDecryptor,
        UnsupportedCipher,
        key_block,
    )
    from handshaker.tls.registry import cipher_suite

    if len(data) < 100:
        return
    suites = [0x002F, 0x0035, 0x009C, 0x009D, 0xC02F, 0xCCA8, 0xC09C, 0xC0A0, 0x000A, 0x0005,
              0x0041, 0x0096, 0x0007, 0x0009, 0x0003, 0x0001, 0x1301, 0x1302, 0x1303, 0x1304,
              0x1305]
    suite = cipher_suite(suites[data[0] % len(suites)])
    version = (0x0300, 0x0301, 0x0302, 0x0303, 0x0304)[data[1] % 5]
    master, cr, sr = data[2:50], data[50:82], data[82:114]
    rest = data[114:]
    try:
        if suite.tls13:
            dec: object = Tls13RecordDecryptor(master, suite)
        else:
            ckeys, _ = key_block(master, cr, sr, suite, version)
            dec = RecordDecryptor(ckeys, suite, version, data[1] & 1,
                                  encrypt_then_mac=bool(data[1] & 2))
    except UnsupportedCipher:
        return
    p = 0
    while p + 3 <= len(rest):
        n = int.from_bytes(rest[p + 1:p + 3], "big") % 2048
        fragment = rest[p + 3:p + 3 + n]
        try:
            if isinstance(dec, Tls13RecordDecryptor):
                dec.decrypt(bytes([23, 3, 3]) + len(fragment).to_bytes(2, "big"), fragment)
            else:
                dec.decrypt(rest[p], version, fragment)  # type: ignore[attr-defined]
        except DecryptError:
            pass
        p += 3 + n


TARGETS: dict[str, Callable[[bytes], None]] = {
    "capture": fuzz_capture,
    "packet": fuzz_packet,
    "reassembly": fuzz_reassembly,
    "tls": fuzz_tls,
    "x509": fuzz_x509,
    "keylog": fuzz_keylog,
    "decrypt": fuzz_decrypt,
}


def run_one(target: str, data: bytes) -> None:
    """Run a target on one input; a HandshakerError is an answer, anything else a crash."""
    with contextlib.suppress(HandshakerError):
        TARGETS[target](data)
