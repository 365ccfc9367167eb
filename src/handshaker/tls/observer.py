"""Follow the TLS handshake on one TCP stream and fill a :class:`TlsSession`.

Theory of operation
-------------------
The flow stage offers each direction's first payload to :func:`observe`;
when it looks like TLS (by content, on any port) a :class:`TlsObserver` is
attached to the stream and gets every payload segment of both directions
from then on. When it looks like a protocol that can switch to TLS later
(STARTTLS: SMTP, IMAP, POP3, FTP, NNTP, XMPP, LDAP, MySQL, PostgreSQL; see
:func:`starttls_protocol`) the observer skips each direction's plaintext
until a segment starts a handshake record, and gives up after
MAX_PROLOGUE_BYTES. Each direction's bytes go through the reassembler
(:mod:`handshaker.flow.reassembly`), the record layer and the handshake
reassembler (:mod:`handshaker.tls.records`), and each complete handshake
message is parsed (:mod:`handshaker.tls.messages`) and turned into facts on
the session.

Light mode (``analyze``'s summary) parses only the hellos and the
ServerKeyExchange and stops asking for payload as soon as the summary's
facts are known: at the ServerHello for TLS 1.3, for RSA key exchange and
for a resumed session; at the ServerKeyExchange for (EC)DHE (it names the
group); one server message after the ServerHello when a ticket was offered
but no session id echoed (RFC 5077 §3.4: only an abbreviated handshake
tells); at a fatal alert; at once when the capture began after the
handshake. The flow stage's fast lane then takes the stream again: only
handshake bytes ever cost Python work. Light mode first reads a stream the lite way
(``_lite``): while each direction's segments come in order and whole and hold
plaintext handshake records of whole messages, with no reassembler, record layer or
frame index; at the first segment that does not, it starts over and reads the segments
it logged the usual way, so that both give the same. In ``detail`` mode (the ``tls``
command, a ladder) it keeps going to the end of the stream (every record,
alerts, close_notify) and keeps the certificates.

Without keys, encrypted records are named by where they come and their
sizes (checked against tshark with the keys, tests/test_tls_sessions.py):
TLS <= 1.2's first encrypted handshake record after ChangeCipherSpec is the
Finished; in TLS 1.3 the server's records before the client's Finished are
its encrypted handshake, the client's flight is sized up record by record
(see ``_application``), and a record of exactly an alert's size is an alert.

Nothing here raises on bad input: damage becomes a diagnostic naming the
frame and the stream offset, and the analysis of the rest goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handshaker.errors import HandshakerError
from handshaker.flow.reassembly import M32, Piece, Reassembler
from handshaker.tls import codes
from handshaker.tls.hello import (
    MAX_CACHED_OFFERS,
    ClientHelloFacts,
    ServerHelloFacts,
    client_hello_facts,
    ecdhe_named_group,
    server_hello_facts,
)
from handshaker.tls.records import (
    HANDSHAKE,
    TLS_HEADER_LENGTH,
    Alert,
    ApplicationData,
    ChangeCipherSpec,
    EncryptedRecord,
    FrameIndex,
    Handshake,
    HandshakeReassembler,
    HeartbeatMessage,
    RecordGap,
    RecordParser,
    SSLv2Message,
    TLSPlaintext,
    looks_like_tls,
    whole_handshake_records,
)
from handshaker.tls.registry import alert as alert_info
from handshaker.tls.registry import (
    cipher_suite,
    group_name,
    version_name,
)
from handshaker.tls.session import TlsAlert, TlsMessage, TlsSession, fs_english

if TYPE_CHECKING:
    from handshaker.tls.opener import KeyRing, SessionOpener

#: handshake bytes followed per direction before the observer gives up (a limit, STYLE §10)
MAX_HANDSHAKE_BYTES = 1 << 20
#: bytes a direction's lite reading takes (its log holds them, see TlsObserver._lite)
#: before it leaves the rest to the usual one, which holds at most a record: a flight with
#: a long certificate chain is a few kilobytes
MAX_LITE_BYTES = 64 * 1024
#: plaintext followed (both directions together) waiting for a STARTTLS switch to TLS
MAX_PROLOGUE_BYTES = 16 * 1024
#: decrypted application data kept per session (both directions together)
MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024

#: the messages parsed when only analyze's summary is wanted (not ``detail``)
LIGHT_TYPES = frozenset({codes.CLIENT_HELLO, codes.SERVER_HELLO, codes.SERVER_KEY_EXCHANGE})

MESSAGE_NAMES = {
    codes.HELLO_REQUEST: "hello_request",
    codes.CLIENT_HELLO: "client_hello",
    codes.SERVER_HELLO: "server_hello",
    codes.HELLO_VERIFY_REQUEST: "hello_verify_request",
    codes.NEW_SESSION_TICKET: "new_session_ticket",
    codes.END_OF_EARLY_DATA: "end_of_early_data",
    codes.ENCRYPTED_EXTENSIONS: "encrypted_extensions",
    codes.CERTIFICATE: "certificate",
    codes.SERVER_KEY_EXCHANGE: "server_key_exchange",
    codes.CERTIFICATE_REQUEST: "certificate_request",
    codes.SERVER_HELLO_DONE: "server_hello_done",
    codes.CERTIFICATE_VERIFY: "certificate_verify",
    codes.CLIENT_KEY_EXCHANGE: "client_key_exchange",
    codes.FINISHED: "finished",
    codes.CERTIFICATE_STATUS: "certificate_status",
    codes.KEY_UPDATE: "key_update",
    codes.COMPRESSED_CERTIFICATE: "compressed_certificate",
}

FFDHE_GROUPS = range(256, 512)

#: key exchanges whose ServerKeyExchange names the group (or DH prime) the handshake uses
GROUP_IN_SKE = frozenset({"dhe", "ecdhe", "dh_anon", "ecdh_anon", "dhe_psk", "ecdhe_psk"})

#: SSL 2.0 CIPHER-KINDs (SSL 2.0 spec, Appendix C): the 3-byte code a CLIENT-MASTER-KEY picks
SSL2_CIPHER_KINDS = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
}

#: TLS 1.3 (RFC 8446 §5.2): an encrypted record is its plaintext, one content-type byte and
#: the AEAD tag; without padding an alert (2 bytes) makes a record of 3 + tag bytes, and a
#: Finished (4-byte header + Hash.length) one of 5 + Hash.length + tag bytes
TLS13_TAG = {0x1305: 8}  # TLS_AES_128_CCM_8_SHA256; every other suite's tag is 16 bytes
HASH_LENGTH = {"SHA256": 32, "SHA384": 48, "SM3": 32}
#: a TLS 1.3 client record this much longer than a Finished holds a certificate (the smallest
#: certificates are a few hundred bytes), not a padded Finished
MAX_FINISHED_PADDING = 256


@dataclass(frozen=True, slots=True)
class _Answer:
    """What a ServerHello's version, cipher suite, key share group and PSK say about a
    session: the same for every session a server program answers alike, so made once
    (see _answer) and shared. Never modified."""

    version: str
    suite_name: str
    tls13: bool
    sizes: tuple[int, int] | None  # TLS 1.3: (alert, Finished) record sizes
    group: str | None  # TLS 1.3: the key share's
    kx: str | None  # the observer's _kx
    key_exchange: str
    forward_secrecy: bool
    # why it has forward secrecy or not: the session's forward_secrecy_why, and its English
    why: tuple[str, dict[str, Any]]
    reason: str


#: answers made so far (a limit, STYLE §10: cleared when full; the key space is small)
_ANSWERS: dict[tuple[int, int, int | None, bool], _Answer] = {}


def _answer(version: int, suite_id: int, group_id: int | None, psk: bool) -> _Answer:
    key = (version, suite_id, group_id, psk)
    found = _ANSWERS.get(key)
    if found is not None:
        return found
    suite = cipher_suite(suite_id)
    sizes: tuple[int, int] | None = None
    group: str | None = None
    kx: str | None
    reason: tuple[str, tuple[tuple[str, Any], ...]]
    if codes.is_tls13(version):
        tag = TLS13_TAG.get(suite_id, 16)
        sizes = (3 + tag, 5 + HASH_LENGTH.get(suite.hash, 32) + tag)
        group = group_name(group_id) if group_id is not None else None
        dh = "dhe" if group_id is not None and group_id in FFDHE_GROUPS else "ecdhe"
        if psk and group_id is None:
            kx, key_exchange, fs, reason = "psk", "psk", False, ("psk_ke", ())
        else:
            kx = f"tls13_{dh}"
            key_exchange = f"psk_{dh}" if psk else f"tls13_{dh}"
            fs, reason = True, ("tls13", (("dh", dh.upper()),))
    else:
        kx = codes.normalize_kx(suite.key_exchange)
        key_exchange, fs = suite.key_exchange, suite.forward_secrecy
        if suite.key_exchange in ("rsa", "rsa_psk"):
            reason = ("rsa", ())
        elif suite.forward_secrecy:
            reason = ("fresh", (("kx", suite.key_exchange.upper()),))
        else:
            reason = ("static", (("kx", suite.key_exchange),))
    if len(_ANSWERS) >= MAX_CACHED_OFFERS:
        _ANSWERS.clear()
    found = _ANSWERS[key] = _Answer(version_name(version), suite.name, codes.is_tls13(version),
                                    sizes, group, kx, key_exchange, fs,
                                    (reason[0], dict(reason[1])), fs_english(*reason))
    return found


def observe(stream: Any, direction: int, first_payload: bytes, *, detail: bool = False,
            keys: KeyRing | None = None) -> TlsObserver | None:
    """The flow stage's hook: a TlsObserver when the first payload looks like TLS, or like
    the start of a protocol that can switch to TLS in the middle (STARTTLS). With ``keys``
    (detail mode) it decrypts what they open."""
    detail = detail or stream.segments is not None or keys is not None
    if looks_like_tls(first_payload) or _damaged_hello(first_payload):
        return TlsObserver(stream, detail=detail, keys=keys)
    if starttls_protocol(first_payload) is not None:
        return TlsObserver(stream, detail=detail, prologue=True, keys=keys)
    return None


def _damaged_hello(first: bytes) -> bool:
    """A handshake record of a TLS version starting with a ClientHello or ServerHello, whose
    record length is past the limit: TLS with a length that lies, to be diagnosed as such."""
    return len(first) > 5 and first[0] == 22 and first[1] == 3 and first[2] <= 4 \
        and first[5] in (1, 2)


#: PostgreSQL's SSLRequest (protocol docs, "SSL Session Encryption"): length 8, code 80877103
_PG_SSL_REQUEST = bytes.fromhex("0000000804d2162f")
#: LDAP's StartTLS extended operation (RFC 4511 §4.14.1)
_LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"


def starttls_protocol(first_payload: bytes) -> str | None:
    """The protocol whose first message this is, if it can switch to TLS mid-stream.

    SMTP (RFC 3207) and FTP (RFC 4217) greet with 220, NNTP (RFC 4642) with 200/201,
    IMAP (RFC 9051 §6.2.1) with ``* OK``, POP3 (RFC 2595 §4) with ``+OK``; XMPP
    (RFC 6120 §5) opens an XML stream; MySQL's server greets with a protocol 10
    handshake packet; a PostgreSQL client asks with SSLRequest; an LDAP client with
    the StartTLS extended request.
    """
    head = first_payload[:16]
    if head.startswith((b"220 ", b"220-")):
        return "smtp/ftp"
    if head.startswith((b"200 ", b"201 ")):
        return "nntp"
    if head.startswith((b"* OK", b"* PREAUTH")):
        return "imap"
    if head.startswith(b"+OK"):
        return "pop3"
    if head.startswith((b"<?xml", b"<stream:stream")):
        return "xmpp"
    if len(head) > 5 and head[3] == 0 and head[4] == 10 and \
            int.from_bytes(head[:3], "little") == len(first_payload) - 4:
        return "mysql"
    if head.startswith(_PG_SSL_REQUEST):
        return "postgresql"
    if head[:1] == b"\x30" and _LDAP_STARTTLS_OID in first_payload[:64]:
        return "ldap"
    return None


class _Direction:
    __slots__ = ("ccs", "done", "finished", "flight", "hs", "index", "reasm", "records",
                 "seen_app", "seen_hs", "solo", "started", "total")

    def __init__(self, isn: int | None, started: bool = True) -> None:
        self.reasm = Reassembler(isn)
        self.records = RecordParser()
        self.hs = HandshakeReassembler()
        self.index = FrameIndex()
        self.total = 0
        self.ccs = False  # sent ChangeCipherSpec
        self.finished = False  # its Finished went by (encrypted or not)
        self.seen_app = 0  # application_data records seen
        self.seen_hs = 0  # TLS 1.3: the client's encrypted handshake records so far
        self.flight = 0  # TLS 1.3 client: 1 after its Certificate, 2 after CertificateVerify
        self.done = False
        self.started = started  # TLS has begun (False: still in a STARTTLS prologue)
        self.solo = 0  # the frame that carried all of the chunk being read (0: several)


class _Lite:
    """A direction in the lite reading (TlsObserver._lite)."""

    __slots__ = ("done", "finished", "held", "next_seq", "total")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq  # the sequence number of the next byte
        self.total = 0  # the bytes so far
        self.held = b""  # the start of a record that goes on in the next segment
        self.done = False
        self.finished = False


class TlsObserver:
    """Reads one stream's TLS handshake (see the module docstring)."""

    def __init__(self, stream: Any, *, detail: bool = False, prologue: bool = False,
                 keys: KeyRing | None = None) -> None:
        self.detail = detail
        # what it needs of the stream, not the stream itself: a reference back would
        # make a cycle, and the analysis runs with the cyclic collector paused
        self._flow_dirs = stream.dirs
        self._t0 = stream.first_ts
        self._number = stream.number
        self._opener: SessionOpener | None = None
        if keys is not None:  # imported here: analyze without keys does not pay for it
            from handshaker.tls.opener import SessionOpener

            self._opener = SessionOpener(keys)
        # light mode's usual case first takes the lite reading (see _lite), which logs the
        # segments it is given, to read them again the usual way should it give up
        self._log: list[tuple[int, int, int, int, int, bytes]] | None = (
            [] if not detail and keys is None and not prologue else None)
        self._start(prologue)

    def _start(self, prologue: bool) -> None:
        """The state of an observer that has read nothing yet."""
        self.active = True
        self.wants = [True, True]  # the flow stage's question: payload of this direction?
        # STARTTLS: plaintext comes first; each direction's TLS begins with a segment
        # that starts a handshake record
        self._prologue = prologue
        self._prologue_bytes = 0
        self._began = not prologue  # some TLS was seen
        self.session = TlsSession(stream=self._number)
        self._dirs: list[Any] = [None, None]  # _Direction (or _Lite) of each direction
        self._client: int | None = None
        self._version: int | None = None
        self._kx: str | None = None
        # the first ClientHello (the client's own offer) and the one the ServerHello answers;
        # light mode reads them lean (tls/hello.py)
        self._hello: ClientHelloFacts | None = None
        self._last_hello: ClientHelloFacts | None = None
        # TLS <= 1.2, a ticket offered and no session id echoed: whether the server resumes
        # shows in its next message (RFC 5077 §3.4), which light mode must wait for
        self._resume_pending = False
        self._sizes: tuple[int, int] | None = None  # TLS 1.3: (alert, Finished) record sizes
        self._certs: list[bytes] = []
        self._cert_ts = 0
        self._cert_at: tuple[int | None, list[int]] = (None, [])  # frame, stream offsets
        self._ts: dict[tuple[str, int], int] = {}  # (message kind, direction): its first time
        self._plain_bytes = 0  # decrypted application data kept (MAX_PLAINTEXT_BYTES)
        self._opened = False  # the record being read was decrypted

    # -- the flow stage's side --------------------------------------------------------
    def segment(self, direction: int, frame: int, ts: int, seq: int, length: int,
                payload: bytes, analysis: int) -> None:
        if self._log is not None:
            self._log.append((direction, frame, ts, seq, length, payload))
            if self._lite(direction, frame, ts, seq, length, payload):
                self._settle()
            else:
                self._again()
            return
        ds = self._dirs[direction]
        if ds is None:
            ds = self._dirs[direction] = _Direction(self._flow_dirs[direction].isn,
                                                    started=not self._prologue)
        if ds.done and not self.detail:
            return
        offset = ds.reasm.pass_through(seq, payload) if length == len(payload) else None
        if offset is not None:  # the usual case: the next bytes, in order
            self._chunk(direction, ds, payload, offset, frame, None, ts)
        else:
            ds.reasm.add(frame, seq, payload, length=length)
            while self.active:
                data, pieces = ds.reasm.read()
                if not data:
                    break
                self._chunk(direction, ds, data, pieces[0].offset, frame, pieces, ts)
                if ds.done and not self.detail:
                    break
        for ev in ds.reasm.take_events():
            if ev.kind in ("gap", "overlap_mismatch", "limit"):
                self._note(ev.frame, f"{self._who(direction)} stream: {ev.kind} at stream "
                                     f"offset {ev.offset} ({ev.detail})")
        self._settle()

    def _settle(self) -> None:
        """After a segment: whether the observer, and each direction, still wants more."""
        a, b = self._dirs
        if not self.detail and a is not None and b is not None and a.done and b.done:
            self.active = False
        if not self.active:
            # the parsers' buffers, and the lite reading's log, are not needed any more
            self._dirs = [None, None]
            self._log = None
            self.wants = [False, False]
        elif not self.detail:
            self.wants = [a is None or not a.done, b is None or not b.done]

    def _lite(self, d: int, frame: int, ts: int, seq: int, length: int, payload: bytes
              ) -> bool:
        """Light mode's usual case, read without the reassembler and the record layer:
        each direction's segments come in order and whole, and its records are plaintext
        handshake records that hold whole messages (records.whole_handshake_records), a
        record may go on into the next segments. These are exactly the bytes and the
        records the usual reading would pass through unchanged, and give the same
        messages, each the frame that completed its record. False at the first segment
        that is not so: the caller reads the whole log again the usual way (_again)."""
        ld = self._dirs[d]
        if ld is None:
            isn = self._flow_dirs[d].isn
            if isn is None:
                return False
            ld = self._dirs[d] = _Lite((isn + 1) & M32)
        if seq != ld.next_seq or length != len(payload) or not length:
            return False
        ld.next_seq = (seq + length) & M32
        ld.total += length
        if ld.total > MAX_LITE_BYTES:
            return False
        held = ld.held
        data = held + payload if held else payload
        offset = ld.total - len(data)
        pos = 0
        session = self.session
        for end, messages in whole_handshake_records(data, offset):
            if not (self.active or session.resumed):
                break
            pos = end
            for m in messages:
                self._handshake(d, ld, m, frame, ts)
                if not (self.active or session.resumed):
                    break
        if self.active or session.resumed:
            rest = len(data) - pos
            if rest:
                # what is left must be the start of a handshake record that a later
                # segment completes; anything else is for the record layer
                if rest >= TLS_HEADER_LENGTH and (
                        data[pos] != HANDSHAKE or not looks_like_tls(data[pos:pos + 5])
                        or rest >= TLS_HEADER_LENGTH + (data[pos + 3] << 8 | data[pos + 4])):
                    return False
                ld.held = data[pos:]
            else:
                ld.held = b""
        return True

    def _again(self) -> None:
        """The lite reading gave up: start over and read the segments it was given the
        usual way, as the flow stage gave them (while they were wanted)."""
        log = self._log or []
        self._log = None
        self._start(False)
        for d, frame, ts, seq, length, payload in log:
            if self.wants[d]:
                self.segment(d, frame, ts, seq, length, payload, 0)

    def _chunk(self, d: int, ds: _Direction, data: bytes, offset: int, frame: int,
               pieces: list[Piece] | None, ts: int) -> None:
        """The next contiguous bytes of direction ``d`` from ``offset`` on, carried by
        ``pieces`` (None: all by ``frame``)."""
        if pieces is None:
            ds.index.add(offset, len(data), frame)
        else:
            for p in pieces:
                ds.index.add(p.offset, p.length, p.frame)
        if not ds.started:
            data, offset = self._skip_prologue(
                ds, data, pieces or [Piece(offset, len(data), frame)])
            if not data:
                return
        ds.total += len(data)
        if ds.total > MAX_HANDSHAKE_BYTES and not self.detail:
            self._note(frame, f"handshake longer than {MAX_HANDSHAKE_BYTES} bytes "
                              "(MAX_HANDSHAKE_BYTES): not followed further")
            ds.done = True
            return
        # every item of this chunk was completed by ``frame`` when nothing was held back
        # from an earlier chunk and one frame carried it all
        ds.solo = 0
        if not ds.records.pending and not ds.hs.partial:
            if pieces is None:
                ds.solo = frame
            elif len(pieces) == 1:
                ds.solo = pieces[0].frame
            if ds.solo and self._opener is None and not self.detail:
                data, offset = self._lean(d, ds, data, offset, ts)
                if not data:
                    return
        ds.records.feed(data, offset)
        self._drain(d, ds, ts)

    def _lean(self, d: int, ds: _Direction, data: bytes, offset: int, ts: int
              ) -> tuple[bytes, int]:
        """Light mode, the usual case (one frame carried the chunk, nothing held back):
        the chunk's first plaintext handshake records that hold whole messages are read
        straight off it (records.whole_handshake_records), with no object made per
        record. Returns the rest, for the record layer, which goes on from there as if it
        had read those records itself."""
        records, hs = ds.records, ds.hs
        if not hs.at_rest or not records.at_rest(offset):
            return data, offset
        pos = 0
        for end, messages in whole_handshake_records(data, offset):
            if not (self.active or self.session.resumed) or not hs.at_rest:
                break
            records.took(offset + end)
            pos = end
            for m in messages:
                self._handshake(d, ds, m, ds.solo, ts)
                if not (self.active or self.session.resumed):
                    break
        return data[pos:], offset + pos

    def _skip_prologue(self, ds: _Direction, data: bytes, pieces: Any) -> tuple[bytes, int]:
        """STARTTLS: the data from the segment that starts TLS on (b"" while plaintext)."""
        base = pieces[0].offset
        for p in pieces:
            rel = p.offset - base
            # after STARTTLS the client's ClientHello, the server's ServerHello (or an
            # SSL 2.0-compatible hello) begins a segment
            if rel < len(data) and (data[rel] == 22 or data[rel] & 0x80) and \
                    looks_like_tls(data[rel:rel + 7]):
                ds.started = self._began = True
                self._prologue_bytes += rel
                return data[rel:], p.offset
        self._prologue_bytes += len(data)
        if self._prologue_bytes > MAX_PROLOGUE_BYTES and not any(
                d is not None and d.started for d in self._dirs):
            # not TLS after all (or not yet): stop following, in both modes
            self.active = False
        return b"", base

    # -- records and messages ---------------------------------------------------------
    def _drain(self, d: int, ds: _Direction, ts: int) -> None:
        # light mode reads no further once the summary is known: the records after that in
        # the same segment are not looked at, as those of the segments after it are not;
        # but an abbreviated handshake's ServerHello comes with the server's CCS and
        # Finished, whose time the summary gives
        while self.active or self.session.resumed:
            try:
                rec = ds.records.next_record()
            except HandshakerError as err:
                self._damage(d, ds, "record", err)
                continue
            if rec is None:
                break
            if self._opener is not None and isinstance(rec, TLSPlaintext):
                rec = self._opener.open(d, rec) or rec
                # the items of a record come out before the next record goes in: they
                # were decrypted when it was
                self._opened = rec.decrypted
            ds.hs.feed(rec)
            while self.active or self.session.resumed:
                try:
                    item = ds.hs.next_item()
                except HandshakerError as err:
                    self._damage(d, ds, "handshake", err)
                    continue
                if item is None:
                    break
                self._item(d, ds, item, ts)

    def _frame(self, ds: _Direction, item: Any) -> int:
        if ds.solo:
            return ds.solo
        f = ds.index.completing_frame(item.stream_offset, max(item.complete_at,
                                                              item.stream_offset))
        return f if f is not None else 0

    def _add(self, d: int, frame: int, ts: int, kind: str, *, encrypted: bool = False,
             length: int = 0) -> None:
        opened = self._opened
        self.session.messages.append(TlsMessage(frame, "", kind, encrypted or opened, length,
                                                d, ts, opened))
        self._ts.setdefault((kind, d), ts)
        if self._resume_pending and d != self._client and kind != "server_hello":
            # RFC 5077 §3.4: a server that takes the ticket goes on with NewSessionTicket
            # or ChangeCipherSpec (the abbreviated handshake of RFC 5246 §7.3), not with
            # its Certificate
            self._resume_pending = False
            if kind in ("new_session_ticket", "change_cipher_spec"):
                self.session.resumed = True
                self.session.resumption = "ticket"
            self._light_done()

    def _item(self, d: int, ds: _Direction, item: Any, ts: int) -> None:
        frame = self._frame(ds, item)
        if isinstance(item, Handshake):
            if self._opener is not None:
                self._opener.handshake(d, item.msg_type, item.body)
            self._handshake(d, ds, item, frame, ts)
        elif isinstance(item, ChangeCipherSpec):
            ds.ccs = True
            if self._opener is not None:
                self._opener.change_cipher_spec(d)
            self._add(d, frame, ts, "change_cipher_spec")
        elif isinstance(item, ApplicationData) and item.data is not None:
            self._plaintext(d, ds, frame, ts, item)
        elif isinstance(item, Alert):
            name, meaning = alert_info(item.description)
            level = {1: "warning", 2: "fatal"}.get(item.level, str(item.level))
            self.session.alerts.append(TlsAlert(frame, "", level, item.description, name,
                                                meaning, d))
            self._add(d, frame, ts, "alert", length=2)
            if item.level == 2:
                self._finish_both()
        elif isinstance(item, EncryptedRecord):
            if item.content_type == 22:
                # TLS <= 1.2: the first encrypted handshake message after CCS is Finished
                kind = "finished" if not ds.finished else "encrypted_handshake"
                ds.finished = True
                self._add(d, frame, ts, kind, encrypted=True, length=item.length)
                self._check_done(d, ds)
            elif item.content_type == 21:
                self._encrypted_alert(d, frame, ts, item.length)
            elif item.content_type == 24:
                self._add(d, frame, ts, "heartbeat", encrypted=True, length=item.length)
            elif item.content_type == 20:
                # a renegotiation's ChangeCipherSpec, under the keys of the session before:
                # the encrypted handshake record after it is the new Finished
                ds.finished = False
                self._add(d, frame, ts, "change_cipher_spec", encrypted=True,
                          length=item.length)
            else:
                self._application(d, ds, frame, ts, item.length)
        elif isinstance(item, ApplicationData):
            self._application(d, ds, frame, ts, item.length)
        elif isinstance(item, HeartbeatMessage):
            self._add(d, frame, ts, "heartbeat", length=len(item.payload) + 3)
        elif isinstance(item, SSLv2Message):
            self._sslv2(d, item, frame, ts)
        elif isinstance(item, RecordGap):
            self._note(frame or None, f"{self._who(d)} records: {item.length} bytes skipped "
                                      f"at stream offset {item.stream_offset} ({item.reason})")

    def _plaintext(self, d: int, ds: _Direction, frame: int, ts: int,
                   item: ApplicationData) -> None:
        """Application data that was decrypted: kept for the ``tls`` command's data view."""
        ds.seen_app += 1
        self._add(d, frame, ts, "application_data", encrypted=True, length=item.length)
        data = item.data or b""
        if self._plain_bytes + len(data) > MAX_PLAINTEXT_BYTES:
            if self._plain_bytes <= MAX_PLAINTEXT_BYTES:
                self._note(frame, f"more than {MAX_PLAINTEXT_BYTES} bytes decrypted "
                                  "(MAX_PLAINTEXT_BYTES): the rest is not kept")
                self._plain_bytes = MAX_PLAINTEXT_BYTES + 1
            return
        self._plain_bytes += len(data)
        if data:
            self.session.data.append((d, frame, ts, data))

    def _encrypted_alert(self, d: int, frame: int, ts: int, length: int) -> None:
        self.session.alerts.append(TlsAlert(frame, "", "encrypted", None, "encrypted_alert",
                                            "an encrypted alert (often close_notify)", d))
        self._add(d, frame, ts, "alert", encrypted=True, length=length)

    def _application(self, d: int, ds: _Direction, frame: int, ts: int, length: int) -> None:
        kind = "application_data"
        if self._client is None and self.session.version is None:
            # the capture began after the handshake: in light mode there is nothing to learn
            if not self.detail:
                self._add(d, frame, ts, kind, encrypted=True, length=length)
                self._finish_both()
                return
        elif codes.is_tls13(self._version) and self._sizes is not None:
            # TLS 1.3 sends the rest of the handshake in application_data records;
            # without keys only their sizes show (RFC 8446 §5.2). The server's records
            # before the client's Finished carry EncryptedExtensions .. Finished. The
            # client's flight is [EndOfEarlyData] [Certificate [CertificateVerify]]
            # Finished: a record shorter than a Finished is an EndOfEarlyData or an empty
            # Certificate, one far longer (a certificate) a Certificate, which a
            # CertificateVerify follows; else it is the Finished (maybe padded: some
            # clients pad it). An unpadded alert is 3 bytes of plaintext.
            alert_size, finished_size = self._sizes
            client = self._dirs[self._client] if self._client is not None else None
            if length == alert_size:
                self._encrypted_alert(d, frame, ts, length)
                return
            if d == self._client and not ds.finished:
                ds.seen_hs += 1
                if ds.flight == 1:  # after a Certificate: its CertificateVerify
                    kind, ds.flight = "encrypted_handshake", 2
                elif ds.flight == 0 and length < finished_size and ds.seen_hs < 3:
                    kind = "encrypted_handshake"
                elif ds.flight == 0 and length > finished_size + MAX_FINISHED_PADDING:
                    kind, ds.flight = "encrypted_handshake", 1
                else:
                    kind = "finished"
                    ds.finished = True
            elif d != self._client and (client is None or not client.finished):
                kind = "encrypted_handshake"
                ds.finished = True
        if kind == "application_data":
            ds.seen_app += 1
        if kind != "application_data" or ds.seen_app == 1 or self.detail:
            self._add(d, frame, ts, kind, encrypted=True, length=length)
        self._check_done(d, ds)

    def _check_done(self, d: int, ds: _Direction) -> None:
        if ds.finished:
            ds.done = True
        other = self._dirs[1 - d]
        if other is not None and ds.done and other.done and not self.detail:
            self.active = False

    def _finish_both(self) -> None:
        for ds in self._dirs:
            if ds is not None:
                ds.done = True
        if not self.detail:
            self.active = False

    # -- handshake messages ----------------------------------------------------------
    def _handshake(self, d: int, ds: _Direction, hs: Handshake, frame: int, ts: int) -> None:
        kind = MESSAGE_NAMES.get(hs.msg_type) or f"handshake_{hs.msg_type}"
        if not self.detail and hs.msg_type not in LIGHT_TYPES:
            self._add(d, frame, ts, kind, length=hs.length)  # its name is all analyze needs
            return
        if hs.msg_type == codes.CLIENT_HELLO:
            self._client_hello(d, hs, frame, ts)
            return
        if hs.msg_type == codes.SERVER_HELLO:
            self._server_hello(d, hs, frame, ts)
            return
        if hs.msg_type == codes.SERVER_KEY_EXCHANGE and self._kx in ("ecdhe", "ecdh") and \
                self._version is not None:
            group = ecdhe_named_group(hs.body, self._version >= codes.TLS12)  # the lean read
            if group is not None:
                self._add(d, frame, ts, kind, length=hs.length)
                self._group(group_name(group))
                return
        from handshaker.tls import messages as msg  # (not for light mode's usual reads)

        try:
            m = msg.parse_handshake(hs.msg_type, hs.body, version=self._version, kx=self._kx,
                                    offset=hs.stream_offset + 4)
        except HandshakerError as err:
            self._damage(d, None, kind, err, frame)
            self._add(d, frame, ts, kind, length=hs.length)
            return
        self._add(d, frame, ts, kind, length=hs.length)
        s = self.session
        if isinstance(m, msg.Certificate):
            if d == self._client:
                s.client_auth = bool(m.certificate_list)
            elif not self._certs:
                self._certs = [e.cert_data for e in m.certificate_list]
                self._cert_ts = ts
                # where each certificate starts in the stream, for a diagnostic
                self._cert_at = (frame, [hs.stream_offset + 4 + hs.body.find(c)
                                         for c in self._certs])
                if self.detail:
                    self._describe_certificates()
        elif isinstance(m, msg.ServerKeyExchange):
            params = m.params
            group = getattr(params, "named_group", None)
            if group is not None:
                self._group(group_name(group))
            elif isinstance(params, msg.ServerDHParams):
                self._group(f"DH {int.from_bytes(params.dh_p, 'big').bit_length()}-bit prime")
            else:
                self._group(s.group)
        elif isinstance(m, (msg.CertificateRequest, msg.CertificateRequestTLS13)):
            s.chosen["certificate_request"] = True
        elif isinstance(m, msg.Finished):
            ds.finished = True
            self._check_done(d, ds)

    def _group(self, group: str | None) -> None:
        """The ServerKeyExchange named the group (TLS <= 1.2): the last fact light mode
        waits for."""
        s = self.session
        s.group = group
        s.chosen["group"] = group
        if not self.detail:
            self._finish_both()

    def _parsed(self, d: int, hs: Handshake, frame: int, ts: int) -> Any:
        """The full parse of a hello the lean reader gave up on (None: damaged; noted)."""
        from handshaker.tls import messages as msg

        try:
            return msg.parse_handshake(hs.msg_type, hs.body, version=self._version,
                                       kx=self._kx, offset=hs.stream_offset + 4)
        except HandshakerError as err:
            kind = MESSAGE_NAMES[hs.msg_type]
            self._damage(d, None, kind, err, frame)
            self._add(d, frame, ts, kind, length=hs.length)
            return None

    def _client_hello(self, d: int, hs: Handshake, frame: int, ts: int) -> None:
        f = client_hello_facts(hs.body)  # the lean read (tls/hello.py)
        if f is None:
            from handshaker.tls import messages as msg

            m = self._parsed(d, hs, frame, ts)
            if not isinstance(m, msg.ClientHello):
                return
            f = ClientHelloFacts.from_message(m)
        self._add(d, frame, ts, "client_hello", length=hs.length)
        if self._client is None:
            self._client = d
        self._last_hello = f
        if self._hello is not None:
            return  # after a HelloRetryRequest: the same offer again
        self._hello = f
        s = self.session
        try:
            offer = f.offer()
        except (HandshakerError, ValueError) as err:
            self._note(frame, f"fingerprint: {err}")
            return
        s.sni = f.sni
        s.alpn_offered = offer.alpn
        s.offered = offer.named
        s.ja3_string = offer.ja3_string
        s.ja3 = offer.ja3
        s.ja4 = offer.ja4

    def _server_hello(self, d: int, hs: Handshake, frame: int, ts: int) -> None:
        f = server_hello_facts(hs.body)
        if f is None or (f.selected_version or 0x0304) != 0x0304:
            # TLS 1.3 drafts (their own layouts and key_share number): the full parser
            from handshaker.tls import messages as msg

            m = self._parsed(d, hs, frame, ts)
            if not isinstance(m, msg.ServerHello):
                return
            f = ServerHelloFacts.from_message(m)
        self._add(d, frame, ts, "hello_retry_request" if f.hello_retry else "server_hello",
                  length=hs.length)
        if self._client is None:  # the capture missed the ClientHello
            self._client = 1 - d
        s = self.session
        version = f.version
        self._version = version
        for ds in self._dirs:
            # also after a HelloRetryRequest (TLS 1.3 only, RFC 8446 §4.1.4): the CCS
            # either side may send next is the middlebox-compatibility dummy (§D.4), and
            # the second ClientHello after it is as plain as the first
            if isinstance(ds, _Direction):  # (the lite reading stops before it matters)
                ds.hs.set_version(version)
        if f.hello_retry:
            s.hello_retry = True
            if f.key_share_group is not None:
                s.hello_retry_group = group_name(f.key_share_group)
            s.chosen["hello_retry_group"] = s.hello_retry_group
            return
        a = _answer(version, f.cipher_suite, f.key_share_group, f.pre_shared_key)
        s.version = a.version
        s.version_code = version
        s.cipher_suite = f.cipher_suite
        s.cipher_suite_name = a.suite_name
        if f.alpn is not None:
            s.alpn_selected = f.alpn.decode("ascii", "replace")
        self._kx = a.kx
        s.key_exchange = a.key_exchange
        s.forward_secrecy = a.forward_secrecy
        s.forward_secrecy_why, s.forward_secrecy_reason = a.why, a.reason
        if a.tls13:
            self._sizes = a.sizes
            if a.group is not None:
                s.group = a.group
            if f.pre_shared_key:
                s.resumed = True
                s.resumption = "psk"
        else:
            hello = self._last_hello
            offered = hello is not None and hello.ticket
            if hello is not None and f.session_id and f.session_id == hello.session_id:
                # RFC 5246 §7.4.1.3: the echo means the server resumes; RFC 5077 §3.4: with
                # a ticket offered, the session id the client sent beside it is echoed
                s.resumed = True
                s.resumption = "ticket" if offered else "session_id"
            elif offered:
                self._resume_pending = True
        s.ja3s_string, s.ja3s = f.fingerprint()
        s.chosen.update({
            "version": s.version,
            "cipher_suite": {"id": s.cipher_suite, "name": s.cipher_suite_name},
            "group": s.group,
            "alpn": s.alpn_selected,
        })
        self._light_done()

    def _light_done(self) -> None:
        """Light mode: stop once all that analyze reports is known (the rest is encrypted
        or not needed). A TLS <= 1.2 full handshake with an ephemeral key exchange still
        owes its group (in ServerKeyExchange); an offered ticket, whether it was taken."""
        s = self.session
        if self.detail or self._resume_pending:
            return
        if codes.is_tls13(self._version) or s.resumed or self._kx not in GROUP_IN_SKE:
            self._finish_both()

    def _sslv2(self, d: int, item: SSLv2Message, frame: int, ts: int) -> None:
        kind = {1: "sslv2_client_hello", 4: "sslv2_server_hello", 2: "sslv2_client_master_key",
                3: "sslv2_client_finished", 5: "sslv2_server_verify",
                6: "sslv2_server_finished"}.get(item.msg_type or 0, "sslv2_encrypted")
        if item.msg_type == 1 and self._client is None:
            self._client = d
            if self._opener is not None:
                self._opener.sslv2_client_hello(d, item.body)
        self._add(d, frame, ts, kind, encrypted=item.msg_type is None, length=item.length)
        if item.msg_type not in (2, 4):
            return
        s = self.session
        from handshaker.tls import messages as msg

        try:
            m = msg.parse_sslv2(item.body, offset=item.stream_offset + 2)
        except HandshakerError as err:
            self._damage(d, None, kind, err, frame)
            return
        if isinstance(m, msg.V2ServerHello):
            # SSL 2.0 has one key exchange: the client encrypts the master key to the
            # server's RSA key (SSL 2.0 spec, CLIENT-MASTER-KEY)
            s.version = version_name(0x0002)
            s.version_code = 0x0002
            s.key_exchange = "rsa"
            s.forward_secrecy = False
            s.set_forward_secrecy_reason("sslv2")
            if m.certificate_type == 1 and m.certificate and not self._certs:  # X.509
                self._certs = [m.certificate]
                self._cert_ts = ts
                self._cert_at = (frame, [item.stream_offset + 2 + item.body.find(m.certificate)])
                if self.detail:
                    self._describe_certificates()
        elif isinstance(m, msg.V2ClientMasterKey):
            s.cipher_suite = m.cipher_kind
            s.cipher_suite_name = SSL2_CIPHER_KINDS.get(m.cipher_kind,
                                                        f"SSL2_CK_0x{m.cipher_kind:06x}")
            s.chosen.update({"version": s.version, "cipher_suite": {
                "id": s.cipher_suite, "name": s.cipher_suite_name}})
            if not self.detail:
                self._finish_both()

    # -- the end --------------------------------------------------------------------
    def _describe_certificates(self) -> None:
        from handshaker.tls.certs import parse_certificate

        out = []
        frame, offsets = self._cert_at
        for i, der in enumerate(self._certs):
            try:
                c = parse_certificate(der)
            except HandshakerError as err:
                out.append({"error": err.reason, "der_length": len(der)})
                at = offsets[i] if i < len(offsets) else None
                self._note(frame, f"server certificate {i + 1} of {len(self._certs)}"
                                  f"{'' if at is None else f' at stream offset {at}'} "
                                  f"does not parse: {err.reason}")
                continue
            out.append({
                "subject": c.subject, "issuer": c.issuer, "subject_cn": c.subject_cn,
                "san_dns": list(c.san_dns)[:100], "san_count": len(c.san_dns),
                "key": c.key, "signature_algorithm": c.signature_algorithm,
                "not_before": c.not_before / 1e9, "not_after": c.not_after / 1e9,
                "sha256": c.sha256, "is_ca": c.is_ca, "self_signed": c.self_signed,
            })
        self.session.certificates = out

    def verify(self, ca_file: str | None = None) -> None:
        """Redo the client's certificate check (detail views only: it costs milliseconds)."""
        from handshaker.tls.certs import verify_chain

        if not self._certs:
            return
        v = verify_chain(self._certs, at_ns=self._cert_ts, server_name=self.session.sni,
                         ca_file=ca_file)
        self.session.verification = {
            "ok": v.ok, "summary": v.summary,
            "summary_zh": v.summary_zh,
            "checks": [{"name": c.name, "ok": c.ok, "reason": c.reason,
                        "reason_zh": c.reason_zh} for c in v.checks],
        }

    def finish(self, client: tuple[str, int], server: tuple[str, int], client_dir: int,
               close_kind: str | None) -> TlsSession | None:
        """Name the directions and the endpoints once the TCP roles are known (None: the
        stream looked like a STARTTLS protocol but never switched to TLS)."""
        if not self._began:
            return None
        s = self.session
        if self._opener is not None and self._opener.ring.given:
            s.decryption = self._opener.outcome()
        cdir = self._client if self._client is not None else client_dir
        s.client_dir = cdir
        if cdir == client_dir:
            s.client, s.server = client, server
        else:  # the TLS client is not the TCP client (rare): follow TLS
            s.client, s.server = server, client
        for m in s.messages:
            m.dir = "c2s" if m.direction == cdir else "s2c"
        alerts = s.alerts  # (most sessions have none)
        for a in alerts:
            a.dir = "c2s" if a.direction == cdir else "s2c"
        if alerts and any(a.description == 0 for a in alerts):
            s.close = "close_notify"
        elif alerts and any(a.level == "fatal" for a in alerts):
            s.close = "fatal_alert"  # RFC 5246 §7.2.2: the connection ends with it
        elif alerts and any(a.level == "encrypted" for a in alerts):
            s.close = "encrypted_alert"
        elif close_kind == "reset":
            s.close = "reset"
        elif close_kind in ("four_way", "three_way", "simultaneous", "half_closed"):
            s.close = "tcp_close" if self.detail else None
        if codes.is_tls13(self._version) and self.detail:
            # the server's Finished ends its encrypted flight: the last record of it
            flight = [m for m in s.messages
                      if m.direction != cdir and m.type == "encrypted_handshake"]
            if flight:
                self._ts["finished", 1 - cdir] = flight[-1].ts_ns
        t0 = self._t0
        sdir = 1 - cdir
        for tag, key in (("client_hello", ("client_hello", cdir)),
                         ("server_hello", ("server_hello", sdir)),
                         ("client_finished", ("finished", cdir)),
                         ("server_finished", ("finished", sdir)),
                         ("client_application_data", ("application_data", cdir)),
                         ("server_application_data", ("application_data", sdir))):
            ts = self._ts.get(key)
            if ts is not None:
                s.timing_ms[tag] = round((ts - t0) / 1e6, 3)
        return s

    # -- helpers -----------------------------------------------------------------------
    def _who(self, d: int) -> str:
        if self._client is None:  # no hello read yet: the TCP roles, if a SYN showed them
            if self._flow_dirs[d].syn_frames:
                return "client"
            if self._flow_dirs[1 - d].syn_frames:
                return "server"
            return f"endpoint {d}"
        return "client" if d == self._client else "server"

    def _damage(self, d: int, ds: _Direction | None, what: str, err: HandshakerError,
                frame: int | None = None) -> None:
        """A diagnostic for bytes that contradict the format: which side, what was being
        read, the frame that carried them and where in that side's stream."""
        if frame is None and ds is not None and err.offset is not None:
            frame = ds.index.frame_at(err.offset)
        at = "" if err.offset is None else f" at stream offset {err.offset}"
        field = "" if err.field is None else f" (field {err.field})"
        self._note(frame, f"{self._who(d)} {what}{at}{field}: {err.reason}")

    def _note(self, frame: int | None, text: str) -> None:
        where = f"frame {frame}: " if frame else ""
        if len(self.session.diagnostics) < 32:
            self.session.diagnostics.append(where + text)
