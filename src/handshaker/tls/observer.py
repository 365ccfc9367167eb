"""Follow the TLS handshake on one TCP stream and fill a :class:`TlsSession`.

Theory of operation
-------------------
The flow stage offers each direction's first payload to :func:`observe`;
when it looks like TLS (by content, on any port) a :class:`TlsObserver` is
attached to the stream and gets every payload segment of both directions
from then on. Each direction's bytes go through the reassembler
(:mod:`handshaker.flow.reassembly`), the record layer and the handshake
reassembler (:mod:`handshaker.tls.records`), and each complete handshake
message is parsed (:mod:`handshaker.tls.messages`) and turned into facts on
the session.

Once the handshake is over in both directions (both Finished seen, or the
first encrypted records of TLS 1.3, or a fatal alert) the observer stops
asking for payload and the flow stage's fast lane takes the stream again:
only handshake bytes ever cost Python work. In ``detail`` mode (the ``tls``
command, a ladder) it keeps going to the end of the stream (alerts,
close_notify) and keeps the certificates.

Nothing here raises on bad input: damage becomes a diagnostic naming the
frame and the stream offset, and the analysis of the rest goes on.
"""

from __future__ import annotations

from typing import Any

from handshaker.errors import HandshakerError
from handshaker.flow.reassembly import Reassembler
from handshaker.tls import extensions as ext
from handshaker.tls import messages as msg
from handshaker.tls.fingerprints import ja3, ja3_string, ja3s, ja3s_string, ja4
from handshaker.tls.records import (
    Alert,
    ApplicationData,
    ChangeCipherSpec,
    EncryptedRecord,
    FrameIndex,
    Handshake,
    HandshakeReassembler,
    RecordGap,
    RecordParser,
    SSLv2Message,
    looks_like_tls,
)
from handshaker.tls.registry import alert as alert_info
from handshaker.tls.registry import (
    cipher_suite,
    group_name,
    is_grease,
    signature_scheme_name,
    version_name,
)
from handshaker.tls.session import TlsAlert, TlsMessage, TlsSession

#: handshake bytes followed per direction before the observer gives up (a limit, STYLE §10)
MAX_HANDSHAKE_BYTES = 1 << 20

#: the messages parsed when only analyze's summary is wanted (not ``detail``)
LIGHT_TYPES = frozenset({msg.CLIENT_HELLO, msg.SERVER_HELLO, msg.SERVER_KEY_EXCHANGE})

MESSAGE_NAMES = {
    msg.HELLO_REQUEST: "hello_request",
    msg.CLIENT_HELLO: "client_hello",
    msg.SERVER_HELLO: "server_hello",
    msg.HELLO_VERIFY_REQUEST: "hello_verify_request",
    msg.NEW_SESSION_TICKET: "new_session_ticket",
    msg.END_OF_EARLY_DATA: "end_of_early_data",
    msg.ENCRYPTED_EXTENSIONS: "encrypted_extensions",
    msg.CERTIFICATE: "certificate",
    msg.SERVER_KEY_EXCHANGE: "server_key_exchange",
    msg.CERTIFICATE_REQUEST: "certificate_request",
    msg.SERVER_HELLO_DONE: "server_hello_done",
    msg.CERTIFICATE_VERIFY: "certificate_verify",
    msg.CLIENT_KEY_EXCHANGE: "client_key_exchange",
    msg.FINISHED: "finished",
    msg.CERTIFICATE_STATUS: "certificate_status",
    msg.KEY_UPDATE: "key_update",
    msg.COMPRESSED_CERTIFICATE: "compressed_certificate",
}

FFDHE_GROUPS = range(256, 512)


def observe(stream: Any, direction: int, first_payload: bytes, *, detail: bool = False
            ) -> TlsObserver | None:
    """The flow stage's hook: a TlsObserver when the first payload looks like TLS."""
    if not looks_like_tls(first_payload):
        return None
    return TlsObserver(stream, detail=detail or stream.segments is not None)


class _Direction:
    __slots__ = ("ccs", "done", "finished", "hs", "index", "reasm", "records", "seen_app",
                 "total")

    def __init__(self, isn: int | None) -> None:
        self.reasm = Reassembler(isn)
        self.records = RecordParser()
        self.hs = HandshakeReassembler()
        self.index = FrameIndex()
        self.total = 0
        self.ccs = False  # sent ChangeCipherSpec
        self.finished = False  # its Finished went by (encrypted or not)
        self.seen_app = 0  # application_data records seen
        self.done = False


class TlsObserver:
    """Reads one stream's TLS handshake (see the module docstring)."""

    def __init__(self, stream: Any, *, detail: bool = False) -> None:
        self.active = True
        self.detail = detail
        # what it needs of the stream, not the stream itself: a reference back would
        # make a cycle, and the analysis runs with the cyclic collector paused
        self._flow_dirs = stream.dirs
        self._t0 = stream.first_ts
        self.session = TlsSession(stream=stream.number)
        self._dirs: list[_Direction | None] = [None, None]
        self._client: int | None = None
        self._version: int | None = None
        self._kx: str | None = None
        self._hello: msg.ClientHello | None = None
        self._certs: list[bytes] = []
        self._cert_ts = 0
        self._ts: dict[str, int] = {}

    # -- the flow stage's side --------------------------------------------------------
    def segment(self, direction: int, frame: int, ts: int, seq: int, length: int,
                payload: bytes, analysis: int) -> None:
        ds = self._dirs[direction]
        if ds is None:
            ds = self._dirs[direction] = _Direction(self._flow_dirs[direction].isn)
        if ds.done and not self.detail:
            return
        ds.reasm.add(frame, seq, payload, length=length)
        while True:
            data, pieces = ds.reasm.read()
            if not data:
                break
            for p in pieces:
                ds.index.add(p.offset, p.length, p.frame)
            ds.total += len(data)
            if ds.total > MAX_HANDSHAKE_BYTES and not self.detail:
                self._note(frame, f"handshake longer than {MAX_HANDSHAKE_BYTES} bytes "
                                  "(MAX_HANDSHAKE_BYTES): not followed further")
                ds.done = True
                break
            ds.records.feed(data, pieces[0].offset)
            self._drain(direction, ds, ts)
        for ev in ds.reasm.take_events():
            if ev.kind in ("gap", "overlap_mismatch", "limit"):
                self._note(ev.frame, f"{self._who(direction)} stream: {ev.kind} at stream "
                                     f"offset {ev.offset} ({ev.detail})")
        if not self.detail and all(d is not None and d.done for d in self._dirs):
            self.active = False
        if not self.active:
            self._dirs = [None, None]  # the parsers' buffers are not needed any more

    # -- records and messages ---------------------------------------------------------
    def _drain(self, d: int, ds: _Direction, ts: int) -> None:
        while True:
            try:
                rec = ds.records.next_record()
            except HandshakerError as err:
                self._note(None, f"{self._who(d)} record: {err}")
                continue
            if rec is None:
                break
            ds.hs.feed(rec)
            while True:
                try:
                    item = ds.hs.next_item()
                except HandshakerError as err:
                    self._note(None, f"{self._who(d)} handshake: {err}")
                    continue
                if item is None:
                    break
                self._item(d, ds, item, ts)

    def _frame(self, ds: _Direction, item: Any) -> int:
        f = ds.index.completing_frame(item.stream_offset, max(item.complete_at,
                                                              item.stream_offset))
        return f if f is not None else 0

    def _add(self, d: int, frame: int, ts: int, kind: str, *, encrypted: bool = False,
             length: int = 0) -> None:
        self.session.messages.append(TlsMessage(frame, "", kind, encrypted, length, d, ts))
        self._ts.setdefault(f"{kind}:{d}", ts)

    def _item(self, d: int, ds: _Direction, item: Any, ts: int) -> None:
        frame = self._frame(ds, item)
        if isinstance(item, Handshake):
            self._handshake(d, ds, item, frame, ts)
        elif isinstance(item, ChangeCipherSpec):
            ds.ccs = True
            self._add(d, frame, ts, "change_cipher_spec")
        elif isinstance(item, Alert):
            name, meaning = alert_info(item.description)
            level = {1: "warning", 2: "fatal"}.get(item.level, str(item.level))
            self.session.alerts.append(TlsAlert(frame, "", level, item.description, name,
                                                meaning, d))
            self._add(d, frame, ts, "alert")
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
                self.session.alerts.append(TlsAlert(frame, "", "encrypted", None,
                                                    "encrypted_alert",
                                                    "an encrypted alert (often close_notify)",
                                                    d))
                self._add(d, frame, ts, "alert", encrypted=True, length=item.length)
            else:
                self._application(d, ds, frame, ts, item.length)
        elif isinstance(item, ApplicationData):
            self._application(d, ds, frame, ts, item.length)
        elif isinstance(item, SSLv2Message):
            self._sslv2(d, item, frame, ts)
        elif isinstance(item, RecordGap):
            self._note(frame or None, f"{self._who(d)} records: {item.length} bytes skipped "
                                      f"at stream offset {item.stream_offset} ({item.reason})")

    def _application(self, d: int, ds: _Direction, frame: int, ts: int, length: int) -> None:
        ds.seen_app += 1
        kind = "application_data"
        if msg.is_tls13(self._version) and self._client is not None:
            # TLS 1.3 sends the rest of the handshake in application_data records;
            # without keys only their sizes show. The server's records before the
            # client's Finished carry EncryptedExtensions .. Finished; the client's
            # first one is its Finished.
            client = self._dirs[self._client]
            if d == self._client and not ds.finished:
                kind = "finished"
                ds.finished = True
            elif d != self._client and (client is None or not client.finished):
                kind = "encrypted_handshake"
                ds.finished = True
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
        kind = MESSAGE_NAMES.get(hs.msg_type, f"handshake_{hs.msg_type}")
        if not self.detail and hs.msg_type not in LIGHT_TYPES:
            self._add(d, frame, ts, kind, length=hs.length)  # its name is all analyze needs
            return
        try:
            m = msg.parse_handshake(hs.msg_type, hs.body, version=self._version, kx=self._kx,
                                    offset=hs.stream_offset + 4)
        except HandshakerError as err:
            self._note(frame, f"{self._who(d)} {kind}: {err}")
            self._add(d, frame, ts, kind, length=hs.length)
            return
        if isinstance(m, msg.ServerHello) and m.is_hello_retry_request:
            kind = "hello_retry_request"
        self._add(d, frame, ts, kind, length=hs.length)
        s = self.session
        if isinstance(m, msg.ClientHello):
            if self._client is None:
                self._client = d
            self._client_hello(m)
        elif isinstance(m, msg.ServerHello):
            self._server_hello(m, kind == "hello_retry_request")
        elif isinstance(m, msg.Certificate):
            if d == self._client:
                s.client_auth = bool(m.certificate_list)
            elif not self._certs:
                self._certs = [e.cert_data for e in m.certificate_list]
                self._cert_ts = ts
                if self.detail:
                    self._describe_certificates()
        elif isinstance(m, msg.ServerKeyExchange):
            params = m.params
            group = getattr(params, "named_group", None)
            if group is not None:
                s.group = group_name(group)
            elif isinstance(params, msg.ServerDHParams):
                s.group = f"DH {len(params.dh_p.lstrip(bytes(1))) * 8}-bit prime"
            s.chosen["group"] = s.group
            if not self.detail:
                self._finish_both()
        elif isinstance(m, (msg.CertificateRequest, msg.CertificateRequestTLS13)):
            s.chosen["certificate_request"] = True
        elif isinstance(m, msg.Finished):
            ds.finished = True
            self._check_done(d, ds)

    def _client_hello(self, m: msg.ClientHello) -> None:
        s = self.session
        self._hello = m
        sni = m.find(ext.SERVER_NAME)
        if sni is not None and isinstance(sni.value, ext.ServerNameList):
            for entry in sni.value.server_name_list:
                if entry.name_type == 0:
                    s.sni = entry.host_name.decode("ascii", "replace")
                    break
        alpn = m.find(ext.ALPN)
        if alpn is not None and isinstance(alpn.value, ext.ProtocolNameList):
            s.alpn_offered = [p.decode("ascii", "replace") for p in alpn.value.protocol_name_list]
        versions = [m.legacy_version]
        sv = m.find(ext.SUPPORTED_VERSIONS)
        if sv is not None and isinstance(sv.value, ext.SupportedVersions) and sv.value.versions:
            versions = list(sv.value.versions)
        groups: list[int] = []
        sg = m.find(ext.SUPPORTED_GROUPS)
        if sg is not None and isinstance(sg.value, ext.NamedGroupList):
            groups = list(sg.value.named_group_list)
        sigs: list[int] = []
        sa = m.find(ext.SIGNATURE_ALGORITHMS)
        if sa is not None and isinstance(sa.value, ext.SignatureSchemeList):
            sigs = list(sa.value.supported_signature_algorithms)
        s.offered = {
            "versions": [version_name(v) for v in versions if not is_grease(v)],
            "cipher_suites": [{"id": c, "name": cipher_suite(c).name}
                              for c in m.cipher_suites if not is_grease(c)],
            "groups": [group_name(g) for g in groups if not is_grease(g)],
            "signature_algorithms": [signature_scheme_name(g) for g in sigs if not is_grease(g)],
            "alpn": list(s.alpn_offered),
        }
        try:
            s.ja3_string = ja3_string(m)
            s.ja3 = ja3(m)
            s.ja4 = ja4(m)
        except (HandshakerError, ValueError) as err:
            self._note(None, f"fingerprint: {err}")

    def _server_hello(self, m: msg.ServerHello, retry: bool) -> None:
        s = self.session
        if retry:
            s.hello_retry = True
            ks = m.find(ext.KEY_SHARE)
            if ks is not None and isinstance(ks.value, ext.KeyShareHelloRetryRequest):
                s.hello_retry_group = group_name(ks.value.selected_group)
            return
        version = m.selected_version
        self._version = version
        for ds in self._dirs:
            if ds is not None:
                ds.hs.set_version(version)
        suite = cipher_suite(m.cipher_suite)
        s.version = version_name(version)
        s.version_code = version
        s.cipher_suite = m.cipher_suite
        s.cipher_suite_name = suite.name
        alpn = m.find(ext.ALPN)
        if alpn is not None and isinstance(alpn.value, ext.ProtocolNameList) \
                and alpn.value.protocol_name_list:
            s.alpn_selected = alpn.value.protocol_name_list[0].decode("ascii", "replace")
        hello = self._hello
        if msg.is_tls13(version):
            ks = m.find(ext.KEY_SHARE)
            psk = m.find(ext.PRE_SHARED_KEY)
            group = None
            if ks is not None and isinstance(ks.value, ext.KeyShareServerHello):
                group = ks.value.server_share.group
                s.group = group_name(group)
            if psk is not None:
                s.resumed = True
                s.resumption = "psk"
            dh = "dhe" if group is not None and group in FFDHE_GROUPS else "ecdhe"
            if psk is not None and group is None:
                self._kx = "psk"
                s.key_exchange = "psk"
                s.forward_secrecy = False
                s.forward_secrecy_reason = ("TLS 1.3 PSK-only resumption (psk_ke): the keys "
                                            "come from the earlier session's secret alone")
            else:
                self._kx = f"tls13_{dh}"
                s.key_exchange = f"psk_{dh}" if psk is not None else f"tls13_{dh}"
                s.forward_secrecy = True
                s.forward_secrecy_reason = ("TLS 1.3: every handshake makes fresh "
                                            f"{dh.upper()} keys, so no long-term key can "
                                            "decrypt it later")
        else:
            self._kx = msg.normalize_kx(suite.key_exchange)
            s.key_exchange = suite.key_exchange
            s.forward_secrecy = suite.forward_secrecy
            if suite.key_exchange in ("rsa", "rsa_psk"):
                s.forward_secrecy_reason = ("RSA key exchange: the pre-master secret travels "
                                            "encrypted with the server's RSA key, so whoever "
                                            "gets that key later can decrypt this session")
            elif suite.forward_secrecy:
                s.forward_secrecy_reason = (f"{suite.key_exchange.upper()}: both sides make "
                                            "fresh keys and compute the secret; nothing "
                                            "secret travels")
            else:
                s.forward_secrecy_reason = f"{suite.key_exchange} key exchange: no fresh keys"
            if hello is not None and m.legacy_session_id_echo and \
                    m.legacy_session_id_echo == hello.legacy_session_id:
                s.resumed = True
                s.resumption = "session_id"
        try:
            s.ja3s_string = ja3s_string(m)
            s.ja3s = ja3s(m)
        except (HandshakerError, ValueError) as err:
            self._note(None, f"fingerprint: {err}")
        s.chosen.update({
            "version": s.version,
            "cipher_suite": {"id": s.cipher_suite, "name": s.cipher_suite_name},
            "group": s.group,
            "alpn": s.alpn_selected,
        })
        if not self.detail and (msg.is_tls13(version) or self._kx not in ("dhe", "ecdhe")):
            self._finish_both()  # all analyze reports is known (the rest is encrypted or
            # not needed); an (EC)DHE suite still owes its group in ServerKeyExchange

    def _sslv2(self, d: int, item: SSLv2Message, frame: int, ts: int) -> None:
        kind = {1: "sslv2_client_hello", 4: "sslv2_server_hello", 2: "sslv2_client_master_key",
                3: "sslv2_client_finished", 5: "sslv2_server_verify",
                6: "sslv2_server_finished"}.get(item.msg_type or 0, "sslv2_encrypted")
        if item.msg_type == 1 and self._client is None:
            self._client = d
        if item.msg_type == 4 and self.session.version is None:
            self.session.version = "SSL 2.0"
        self._add(d, frame, ts, kind, encrypted=item.msg_type is None, length=item.length)

    # -- the end --------------------------------------------------------------------
    def _describe_certificates(self) -> None:
        from handshaker.tls.certs import parse_certificate

        out = []
        for der in self._certs:
            try:
                c = parse_certificate(der)
            except HandshakerError as err:
                out.append({"error": str(err), "der_length": len(der)})
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
            "checks": [{"name": c.name, "ok": c.ok, "reason": c.reason} for c in v.checks],
        }

    def finish(self, client: tuple[str, int], server: tuple[str, int], client_dir: int,
               close_kind: str | None) -> TlsSession:
        """Name the directions and the endpoints once the TCP roles are known."""
        s = self.session
        cdir = self._client if self._client is not None else client_dir
        s.client_dir = cdir
        if cdir == client_dir:
            s.client, s.server = client, server
        else:  # the TLS client is not the TCP client (rare): follow TLS
            s.client, s.server = server, client
        for m in s.messages:
            m.dir = "c2s" if m.direction == cdir else "s2c"
        for a in s.alerts:
            a.dir = "c2s" if a.direction == cdir else "s2c"
        if any(a.description == 0 for a in s.alerts):
            s.close = "close_notify"
        elif any(a.level == "encrypted" for a in s.alerts):
            s.close = "encrypted_alert"
        elif close_kind == "reset":
            s.close = "reset"
        elif close_kind in ("four_way", "three_way", "simultaneous", "half_closed"):
            s.close = "tcp_close" if self.detail else None
        t0 = self._t0
        for key, label in (("client_hello", "client_hello"), ("server_hello", "server_hello"),
                           ("finished", "finished"), ("application_data", "application_data")):
            for who, name in ((cdir, "client"), (1 - cdir, "server")):
                ts = self._ts.get(f"{key}:{who}")
                if ts is not None and (key != "client_hello" or name == "client") and \
                        (key != "server_hello" or name == "server"):
                    tag = label if key in ("client_hello", "server_hello") else f"{name}_{label}"
                    s.timing_ms[tag] = round((ts - t0) / 1e6, 3)
        return s

    # -- helpers -----------------------------------------------------------------------
    def _who(self, d: int) -> str:
        if self._client is None:
            return f"endpoint {d}"
        return "client" if d == self._client else "server"

    def _note(self, frame: int | None, text: str) -> None:
        where = f"frame {frame}: " if frame else ""
        if len(self.session.diagnostics) < 32:
            self.session.diagnostics.append(where + text)
