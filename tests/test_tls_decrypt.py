"""TLS 1.0–1.2 decryption (tls/decrypt.py) on the corpus's real sessions.

For every TLS <= 1.2 session of the corpus whose key log has its master secret
(CLIENT_RANDOM), the records of both directions are decrypted from the first
one after each ChangeCipherSpec; the first is the Finished, and its
verify_data must equal the PRF over the handshake transcript. A Finished
that checks out is proof that the PRF, the key block, the cipher and the
record sequence numbers are all right (RFC 5246 §7.4.9): nothing here is
compared with a value we computed ourselves. The application data after it
must decrypt too, and equal what tshark decrypts with the same key log.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import CORPUS, require
from test_tls_sessions import KEYLOGS

from handshaker.analysis import analyze
from handshaker.errors import HandshakerError
from handshaker.flow.reassembly import Reassembler
from handshaker.tls.decrypt import (
    DecryptError,
    RecordDecryptor,
    Tls13RecordDecryptor,
    UnsupportedCipher,
    key_block,
    prf,
    tls13_finished,
    tls13_next_secret,
    verify_data,
)
from handshaker.tls.hello import server_hello_facts
from handshaker.tls.keys import KeyLog
from handshaker.tls.records import RecordParser, TLSPlaintext, looks_like_tls
from handshaker.tls.registry import cipher_suite

# every capture with an NSS key log (MANIFEST.md), from the session tests' table
KEYED = {rel: log for rel, log in KEYLOGS.items() if log.endswith((".txt", ".keylog"))}
#: TLS sessions each must verify (MANIFEST.md: what tshark decrypts), where not one
SESSIONS = {
    "lekensteyn/all/all.pcapng": 70,  # see test_finished_messages_verify
    "lekensteyn/ssl3/ssl3.pcapng": 0,  # SSL 3.0: left out here; test_tls_open opens it
    "scapy/tls_nss_example.pcap": 2,  # one TLS 1.2, one TLS 1.3
}


@dataclass
class Stream:
    records: list[tuple[int, TLSPlaintext]] = field(default_factory=list)  # (direction, rec)


def tls_streams(path: Path) -> dict[int, Stream]:
    """Every TCP stream's TLS records, both directions, in the order they completed."""
    a = analyze(path, keep_tcp=lambda n: True, tls=False)
    out: dict[int, Stream] = {}
    for n, st in a.kept.items():
        assert st.segments is not None
        reasm = [Reassembler(st.dirs[0].isn), Reassembler(st.dirs[1].isn)]
        parsers = [RecordParser(), RecordParser()]
        broken = [False, False]
        started = [False, False]
        s = out[n] = Stream()
        for seg in st.segments:
            d = seg.sender
            if seg.len <= 0 or broken[d]:
                continue
            reasm[d].add(seg.frame, seg.seq_raw, seg.payload, length=seg.len)
            while True:
                data, pieces = reasm[d].read()
                if not data:
                    break
                offset = pieces[0].offset
                if not started[d]:  # STARTTLS: TLS starts with a segment that starts a record
                    at = next((p.offset - offset for p in pieces
                               if looks_like_tls(data[p.offset - offset:][:7])), None)
                    if at is None:
                        continue
                    started[d] = True
                    data, offset = data[at:], offset + at
                parsers[d].feed(data, offset)
                try:
                    while (rec := parsers[d].next_record()) is not None:
                        if isinstance(rec, TLSPlaintext):
                            s.records.append((d, rec))
                except HandshakerError:
                    broken[d] = True
    return out


def hellos(recs: list[tuple[int, TLSPlaintext]]
           ) -> tuple[tuple[int, TLSPlaintext], tuple[int, TLSPlaintext]] | None:
    """(direction, record) of the ClientHello and of the ServerHello, if both are there."""
    found = [next(((d, r) for d, r in recs if r.content_type == 22
                   and r.fragment[:1] == bytes([t])), None) for t in (1, 2)]
    ch, sh = found
    return None if ch is None or sh is None else (ch, sh)


Record = tuple[int, TLSPlaintext]


def sessions(rel: str) -> Iterator[tuple[KeyLog, int, list[Record], Record, Record]]:
    """(key log, stream, its records, ClientHello, ServerHello) of each TLS stream."""
    log = KeyLog()
    log.add_file(CORPUS / KEYED[rel])
    for n, st in tls_streams(CORPUS / rel).items():
        pair = hellos(st.records)
        if pair is not None:
            yield log, n, st.records, pair[0], pair[1]


@dataclass
class Outcome:
    keyed: int = 0  # TLS 1.0-1.2 sessions whose master secret the key log has
    verified: int = 0  # sessions whose two Finished messages checked out
    skipped: int = 0  # sessions of a cipher not supported
    unsupported: set[str] = field(default_factory=set)
    app_records: int = 0
    plaintexts: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)


def decrypt_capture(rel: str) -> Outcome:
    result = Outcome()
    for log, n, recs, hello, sh in sessions(rel):
        client = hello[0]
        client_random, server_random = hello[1].fragment[6:38], sh[1].fragment[6:38]
        facts = server_hello_facts(sh[1].fragment[4:])
        master = log.get("CLIENT_RANDOM", client_random)
        if facts is None or master is None or facts.version >= 0x0304 or \
                facts.version < 0x0301:
            continue  # TLS 1.3, SSL 3.0, or no key for it
        suite = cipher_suite(facts.cipher_suite)
        result.keyed += 1
        try:
            ckeys, skeys = key_block(master, client_random, server_random, suite, facts.version)
        except UnsupportedCipher:
            result.unsupported.add(suite.cipher)
            result.skipped += 1
            continue
        dec = {client: RecordDecryptor(ckeys, suite, facts.version, facts.compression),
               1 - client: RecordDecryptor(skeys, suite, facts.version, facts.compression)}
        encrypted = {0: False, 1: False}
        transcript = b""
        finished = set()
        renegotiated = set()
        for d, rec in recs:
            if d in renegotiated:
                continue  # new keys after a renegotiation: not followed here
            if rec.content_type == 20 and encrypted[d]:
                renegotiated.add(d)
                continue
            if rec.content_type == 20 and not encrypted[d]:
                encrypted[d] = True
                continue
            if not encrypted[d]:
                if rec.content_type == 22:  # e.g. NewSessionTicket before the server's CCS
                    transcript += rec.fragment
                continue
            try:
                plain = dec[d].decrypt(rec.content_type, rec.legacy_record_version,
                                       rec.fragment)
            except DecryptError as err:
                pytest.fail(f"{rel} stream {n} dir {d}: {err}")
            who = "client" if d == client else "server"
            if who not in finished:
                assert rec.content_type == 22 and plain[:4] == b"\x14\x00\x00\x0c", \
                    f"{rel} stream {n}: the first encrypted {who} record is not a Finished"
                want = verify_data(master, who, transcript, suite, facts.version)
                assert plain[4:] == want, f"{rel} stream {n}: {who} Finished does not verify"
                finished.add(who)
                transcript += plain
            elif rec.content_type == 23:
                result.app_records += 1
                result.plaintexts.setdefault((n, d), []).append(plain)
        if finished == {"client", "server"}:
            result.verified += 1
    return result


@pytest.mark.parametrize("rel", sorted(KEYED))
def test_finished_messages_verify(rel: str) -> None:
    require((CORPUS / rel).is_file(), f"{rel} is missing")
    got = decrypt_capture(rel)
    # every keyed TLS <= 1.2 session of a supported cipher checks out
    assert got.verified + got.skipped == got.keyed, got
    assert got.verified + verify_tls13(rel) == SESSIONS.get(rel, 1), got
    if rel == "lekensteyn/all/all.pcapng":
        # 73 suites: 3 sessions open with an SSLv2-compatible ClientHello (whose challenge is
        # the client random, RFC 5246 E.2), which this harness leaves out; of the 70 others,
        # all 70 verify (AES, Camellia, SEED, 3DES, DES, IDEA in CBC, the 40-bit exports,
        # AES-GCM and CCM, ChaCha20, RC4, NULL)
        assert got.keyed == 70, got
        assert not got.unsupported


def test_prf_halves_for_tls10() -> None:
    """TLS 1.0's PRF splits an odd-length secret into halves sharing the middle byte."""
    secret = bytes(range(11))
    out = prf(secret, b"label", b"seed", 40, None)
    again = prf(secret, b"label", b"seed", 80, None)
    assert again[:40] == out and len(again) == 80
    assert prf(secret, b"label", b"seed", 40, "sha256") != out


# -- TLS 1.3 ------------------------------------------------------------------------------

def verify_tls13(rel: str) -> int:
    """How many TLS 1.3 sessions' two Finished messages check out (RFC 8446 §4.4.4); every
    record up to them must decrypt, and the first application data records after them."""
    verified = 0
    for log, n, recs, hello, sh in sessions(rel):
        facts = server_hello_facts(sh[1].fragment[4:])
        rnd = hello[1].fragment[6:38]
        if facts is None or facts.version != 0x0304 or facts.hello_retry:
            continue
        secret = {who: log.get(f"{who.upper()}_HANDSHAKE_TRAFFIC_SECRET", rnd)
                  for who in ("client", "server")}
        app = {who: log.get(f"{who.upper()}_TRAFFIC_SECRET_0", rnd)
               for who in ("client", "server")}
        if None in secret.values() or None in app.values():
            continue
        suite = cipher_suite(facts.cipher_suite)
        client = hello[0]
        transcript = hello[1].fragment + sh[1].fragment
        dec = {who: Tls13RecordDecryptor(secret[who], suite)  # type: ignore[arg-type]
               for who in ("client", "server")}
        finished: set[str] = set()
        data_records = key_updates = 0
        for d, rec in recs:
            who = "client" if d == client else "server"
            if rec.content_type != 23:
                continue  # the hellos (in the transcript already), dummy CCS, plain alerts
            header = bytes([23]) + rec.legacy_record_version.to_bytes(2, "big") + \
                rec.length.to_bytes(2, "big")
            try:
                inner, content = dec[who].decrypt(header, rec.fragment)
            except DecryptError as err:
                pytest.fail(f"{rel} stream {n} {who}: {err}")
            if who in finished:
                data_records += inner == 23
                if inner == 22 and content[:1] == b"\x18":  # KeyUpdate: the next secret
                    app[who] = tls13_next_secret(app[who], suite)  # type: ignore[arg-type]
                    dec[who] = Tls13RecordDecryptor(app[who], suite)  # type: ignore[arg-type]
                    key_updates += 1
                continue
            assert inner == 22, f"{rel} stream {n}: {who} handshake record of type {inner}"
            p = 0
            while p < len(content):  # the messages of this record, one at a time
                length = int.from_bytes(content[p + 1:p + 4], "big")
                message = content[p:p + 4 + length]
                if message[0] == 20:  # Finished
                    assert message[4:] == tls13_finished(secret[who], transcript, suite), \
                        f"{rel} stream {n}: {who} Finished does not verify"  # type: ignore[arg-type]
                    finished.add(who)
                    dec[who] = Tls13RecordDecryptor(app[who], suite)  # type: ignore[arg-type]
                transcript += message
                p += 4 + length
        if finished == {"client", "server"}:
            assert data_records > 0, f"{rel} stream {n}: no application data decrypted"
            verified += 1
            if "keyupdates" in rel:
                assert key_updates == 2  # MANIFEST.md: 2 KeyUpdate messages
    return verified
