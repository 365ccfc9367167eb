"""Open one TLS session's records with the keys the user has.

Theory of operation
-------------------
A :class:`KeyRing` holds what the user gave (key logs, pcapng Decryption
Secrets Blocks, server RSA keys; :mod:`handshaker.tls.keys`) and the
master secrets of the sessions opened so far, by session id, so that a
session resumed from one of them opens too. The TLS observer
(:mod:`handshaker.tls.observer`) gives each stream's :class:`SessionOpener`

* every handshake message, in the order the session carried them, the clear
  ones and the ones it decrypted (:meth:`SessionOpener.handshake`): they make
  the transcript, and they carry what the keys come from (the randoms, the
  suite, the server's certificate, the encrypted pre-master secret);
* each ChangeCipherSpec (:meth:`SessionOpener.change_cipher_spec`): in TLS
  <= 1.2 that side's next record is under the new keys (RFC 5246 §7.1);
* each record (:meth:`SessionOpener.open`), which comes back decrypted, with
  its real content type, when that side's keys are known.

Where the keys come from, in order (SSL 3.0 to TLS 1.2): a key log's
``CLIENT_RANDOM`` line (the master secret); a key log's ``RSA`` line (the
pre-master secret, by the first 8 bytes of its encryption); the server's
RSA key that matches the certificate, which decrypts the pre-master secret
in the ClientKeyExchange (RFC 5246 §7.4.7.1); for a resumed session, the
master secret of the session it resumes. The master secret is the PRF of
the pre-master secret over both randoms, or over the session hash with the
extended master secret (RFC 7627). TLS 1.3 keys come only from a key log:
its traffic secrets (RFC 8446 §7.1) are derived from an (EC)DHE shared
secret that is in no packet.

A session counts as decrypted only when a Finished checks out: its
verify_data is the PRF (TLS 1.3: an HMAC) over the transcript with keys
from that secret, which proves the secret, the key block, the cipher and
the record sequence numbers right. When it is not decrypted the outcome
says why, in plain words (:class:`Decryption`).

A passive tool cannot be a padding oracle, but it still treats every RSA
failure alike (RFC 5246 §7.4.7.1): whatever goes wrong in the RSA
decryption, the answer is "the key does not match"; only a Finished that
verifies proves a pre-master secret right.

Secrets are never put in the outcome unless it was asked to explain the
keys (``explain``): then :attr:`Decryption.steps` lists them, in order.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from handshaker.errors import HandshakerError
from handshaker.tls.decrypt import (
    SSL30,
    DecryptError,
    Keys,
    RecordDecryptor,
    Tls13RecordDecryptor,
    UnsupportedCipher,
    cipher_of,
    key_block,
    prf,
    prf_hash,
    ssl3_finished,
    ssl3_master_secret,
    tls13_finished,
    tls13_hash,
    tls13_keys,
    tls13_next_secret,
    verify_data,
)
from handshaker.tls.hello import ServerHelloFacts, client_hello_facts, server_hello_facts
from handshaker.tls.keys import KeyLog, ServerKey
from handshaker.tls.records import TLSPlaintext
from handshaker.tls.registry import CipherSuite, cipher_suite, version_name

#: master secrets remembered for resumption (a limit, STYLE §10): the oldest go first
MAX_REMEMBERED_SESSIONS = 10_000

CLIENT, SERVER = 0, 1
WHO = ("client", "server")
EXTENDED_MASTER_SECRET = 23  # RFC 7627
ENCRYPT_THEN_MAC = 22  # RFC 7366
HANDSHAKE, APPLICATION_DATA, CHANGE_CIPHER_SPEC = 22, 23, 20
# handshake message types (RFC 8446 §4)
HELLO_REQUEST, CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET = 0, 1, 2, 4
ENCRYPTED_EXTENSIONS = 8
SESSION_TICKET = 35  # RFC 5077
EARLY_DATA = 42  # the early_data extension (RFC 8446 §4.2.10)
#: TLS 1.3 cipher suites (RFC 8446 §B.4)
TLS13_SUITES = (0x1301, 0x1302, 0x1303, 0x1304, 0x1305)
END_OF_EARLY_DATA, CERTIFICATE, CLIENT_KEY_EXCHANGE, FINISHED, KEY_UPDATE = 5, 11, 16, 20, 24
MESSAGE_HASH = 254  # RFC 8446 §4.4.1: stands for ClientHello1 after a HelloRetryRequest
#: what the IV from the key block is for, by cipher kind (--explain-keys: catalogue keys)
IV_MEANING = {"gcm": "m_iv_gcm", "ccm": "m_iv_gcm", "ccm8": "m_iv_gcm", "chacha": "m_iv_chacha",
              "cbc": "m_iv_cbc", "tls13": "m_iv_tls13"}
#: kinds of key exchange whose pre-master secret the server's RSA key decrypts
RSA_KX = frozenset({"rsa", "rsa_psk"})


@dataclass
class KeyRing:
    """Every key the user gave, and the master secrets learned from sessions opened."""

    keylog: KeyLog = field(default_factory=KeyLog)
    rsa_keys: list[ServerKey] = field(default_factory=list)
    explain: bool = False  # keep the derivation, secrets included (--explain-keys)
    capture_secrets: bool = True  # take the key logs a pcapng file carries
    _sessions: OrderedDict[bytes, tuple[bytes, str]] = field(default_factory=OrderedDict)
    _secrets_blocks: int = 0

    @property
    def given(self) -> bool:
        return bool(len(self.keylog) or self.rsa_keys)

    def take_secrets_blocks(self, blocks: list[Any]) -> None:
        """Read the capture's Decryption Secrets Blocks not read yet."""
        if self.capture_secrets and len(blocks) > self._secrets_blocks:
            self.keylog.add_secrets_blocks(blocks[self._secrets_blocks:],
                                           first=self._secrets_blocks + 1)
            self._secrets_blocks = len(blocks)

    def remember(self, kind: str, ident: bytes, master: bytes, source: str) -> None:
        """Keep a verified session's master secret by its ``kind`` ("session id" or
        "ticket", RFC 5077) of identity, for the sessions that resume it."""
        if not ident:
            return
        key = kind.encode() + b":" + ident
        self._sessions[key] = (master, source)
        self._sessions.move_to_end(key)
        if len(self._sessions) > MAX_REMEMBERED_SESSIONS:
            self._sessions.popitem(last=False)

    def recall(self, kind: str, ident: bytes) -> tuple[bytes, str] | None:
        return self._sessions.get(kind.encode() + b":" + ident) if ident else None


@dataclass
class Decryption:
    """What became of one session with the keys given (docs/json.md: ``decrypted``)."""

    ok: bool = False
    key_source: str | None = None
    finished_verified: dict[str, bool | None] = field(
        default_factory=lambda: {"client": None, "server": None})
    reason: str | None = None  # in English
    reason_zh: str | None = None  # the same in Chinese
    why: Why | None = None
    records: int = 0  # records decrypted
    #: --explain-keys: (name, value, what it is), in the order they are derived
    steps: list[tuple[Why, str | Why, Why]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok, "key_source": self.key_source,
                             "finished_verified": dict(self.finished_verified),
                             "reason": self.reason, "reason_zh": self.reason_zh,
                             "records": self.records}
        if self.steps:
            d["key_derivation"] = [
                {"name": n.text("en"), "value": v if isinstance(v, str) else v.text("en"),
                 "meaning": m.text("en"), "name_zh": n.text("zh"),
                 "value_zh": v if isinstance(v, str) else v.text("zh"),
                 "meaning_zh": m.text("zh")} for n, v, m in self.steps]
        return d


@dataclass(frozen=True)
class Why:
    """A reason in parts of the catalogue (explain/i18n.py, DECRYPT_REASONS), each with its
    values, so that it can be said in either language; ``who`` values are translated."""

    parts: tuple[tuple[str, dict[str, Any]], ...]

    @classmethod
    def of(cls, key: str, **args: Any) -> Why:
        return cls(((key, args),))

    def __add__(self, other: Why) -> Why:
        return Why(self.parts + other.parts)

    def text(self, lang: str = "en") -> str:
        from handshaker.explain.i18n import DECRYPT_REASONS, say, t

        out = []
        for key, args in self.parts:
            vals = {k: v.text(lang) if isinstance(v, Why) else t(v, lang) if k == "who" else v
                    for k, v in args.items()}
            out.append(say(DECRYPT_REASONS, key, lang, **vals))
        return "".join(out)


class _Dead:
    """A direction whose records cannot be opened (the reason is on the outcome)."""


class SessionOpener:
    """Follows one stream's handshake and opens its records (see the module docstring)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.out = Decryption()
        self._client_dir: int | None = None
        self._client_random = b""
        self._server_random = b""
        self._client_session_id = b""
        self._session_id = b""
        self._ems = self._etm_offered = False
        self._facts: ServerHelloFacts | None = None
        self._suite: CipherSuite | None = None
        self._version = 0
        self._kx: str | None = None
        self._transcript: list[bytes] = []
        self._open_transcript = False
        self._master: bytes | None = None
        self._source: str | None = None
        self._server_cert: bytes | None = None
        # TLS <= 1.2: the decryptor each side switches to at its ChangeCipherSpec
        self._pending: list[Any] = [None, None]
        self._dec: list[Any] = [None, None]  # the current one (None: in the clear)
        # TLS 1.3: each side's handshake and application traffic secrets
        self._hs_secret: list[bytes | None] = [None, None]
        self._app_secret: list[bytes | None] = [None, None]
        self._early_secret: bytes | None = None
        self._offered_ticket = self._ticket = b""  # RFC 5077: the ticket offered, the new one
        self._guessed = False  # the master secret is a resumed session's, until a CKE shows
        self._offered_tls13: list[int] = []
        self._early_offered = False
        self._finished_seen = [False, False]
        self._why_no_keys: Why | None = None
        self._explained = False

    # -- what the observer tells ---------------------------------------------------------
    def handshake(self, d: int, msg_type: int, body: bytes) -> None:
        """A complete handshake message from direction ``d`` (clear or decrypted)."""
        message = bytes([msg_type]) + len(body).to_bytes(3, "big") + body
        if msg_type == CLIENT_HELLO:
            self._client_hello(d, message, body)
            return
        if self._client_dir is None:
            self._client_dir = 1 - d if msg_type == SERVER_HELLO else None
        who = CLIENT if d == self._client_dir else SERVER
        if msg_type == SERVER_HELLO:
            self._server_hello(message, body)
            return
        if msg_type == HELLO_REQUEST:
            return  # never in a transcript (RFC 5246 §7.4.1.1)
        if msg_type == FINISHED:
            self._finished(who, message, body)
            return
        if self._open_transcript:
            self._transcript.append(message)
        if msg_type == NEW_SESSION_TICKET and who == SERVER and not self._tls13:
            n = int.from_bytes(body[4:6], "big")  # RFC 5077 §3.3: lifetime, then the ticket
            self._ticket = body[6:6 + n]
        elif msg_type == CERTIFICATE and who == SERVER and self._server_cert is None:
            self._server_cert = _first_certificate(body, self._tls13)
        elif msg_type == CLIENT_KEY_EXCHANGE and who == CLIENT:
            self._client_key_exchange(body)
        elif msg_type == ENCRYPTED_EXTENSIONS and isinstance(self._dec[CLIENT],
                                                             Tls13RecordDecryptor):
            if _extension(body, EARLY_DATA, at=0) is None and self._suite is not None:
                # the server did not take the early data: the client's next records are
                # its handshake flight (RFC 8446 §4.2.10)
                self._dec[CLIENT] = self._tls13_decryptor(CLIENT, self._hs_secret[CLIENT])
        elif msg_type == END_OF_EARLY_DATA and who == CLIENT:
            self._dec[CLIENT] = self._tls13_decryptor(CLIENT, self._hs_secret[CLIENT])
        elif msg_type == KEY_UPDATE and self._tls13:
            secret = self._app_secret[who]
            if secret is not None and self._suite is not None:
                self._app_secret[who] = tls13_next_secret(secret, self._suite)
                self._dec[who] = self._tls13_decryptor(who, self._app_secret[who])

    def change_cipher_spec(self, d: int) -> None:
        """Direction ``d`` sent ChangeCipherSpec (in TLS 1.3 a dummy, RFC 8446 §D.4)."""
        if self._tls13 or self._facts is None:
            return  # TLS 1.3's dummy, or one before any ServerHello: nothing to switch to
        who = CLIENT if d == self._client_dir else SERVER
        if self._pending[who] is None:
            self._pending_keys()
        self._dec[who] = self._pending[who] or _DEAD
        self._pending[who] = None

    def open(self, d: int, rec: TLSPlaintext) -> TLSPlaintext | None:
        """The record decrypted (its real content type, the plaintext), or None when this
        direction is in the clear or its keys are not known."""
        if self._client_dir is None:
            return None
        who = CLIENT if d == self._client_dir else SERVER
        dec = self._dec[who]
        if dec is None and who == CLIENT and self._early_secret is not None and \
                rec.content_type == APPLICATION_DATA and self._facts is None:
            dec = self._dec[CLIENT] = self._early_decryptor(rec)
        if dec is None or dec is _DEAD:
            return None
        try:
            if isinstance(dec, Tls13RecordDecryptor):
                if rec.content_type != APPLICATION_DATA:
                    return None  # a dummy ChangeCipherSpec, a clear alert
                header = bytes([rec.content_type]) + rec.legacy_record_version.to_bytes(
                    2, "big") + rec.length.to_bytes(2, "big")
                ctype, plain = dec.decrypt(header, rec.fragment)
            else:
                ctype = rec.content_type
                plain = dec.decrypt(ctype, rec.legacy_record_version, rec.fragment)
        except DecryptError as err:
            self._dec[who] = _DEAD
            self._fail(Why.of("record_bad", who=WHO[who], offset=rec.stream_offset,
                              detail=err.reason))
            return None
        self.out.records += 1
        return TLSPlaintext(ctype, rec.legacy_record_version, rec.length, plain,
                            rec.stream_offset, True)

    def outcome(self) -> Decryption:
        """The verdict, once the stream is over."""
        out = self.out
        seen = [v for v in out.finished_verified.values() if v is not None]
        out.ok = bool(seen) and all(seen)
        if out.ok:
            missing = [w for w, v in out.finished_verified.items() if v is None]
            if missing and out.why is None:
                out.why = Why.of("finished_missing", who=missing[0])
        elif out.why is None:
            out.why = self._why_no_keys or self._no_handshake_reason()
        if out.why is not None:
            out.reason, out.reason_zh = out.why.text("en"), out.why.text("zh")
        if not self.ring.explain:
            out.steps = []
        return out

    # -- the handshake -------------------------------------------------------------------
    @property
    def _tls13(self) -> bool:
        return self._version >= 0x0304

    def _client_hello(self, d: int, message: bytes, body: bytes) -> None:
        self._client_dir = d
        if self._tls13 and self._facts is not None and self._facts.hello_retry:
            self._transcript.append(message)  # the second ClientHello (RFC 8446 §4.1.4)
            return
        self._transcript = [message]
        self._open_transcript = True
        self._client_random = body[2:34]
        hello = client_hello_facts(body)  # the lean reader of tls/hello.py; None: damaged
        exts = hello.extension_types if hello is not None else []
        self._client_session_id = hello.session_id if hello is not None else b""
        self._etm_offered = ENCRYPT_THEN_MAC in exts
        self._early_offered = EARLY_DATA in exts
        self._offered_tls13 = [c for c in hello.cipher_suites if c in TLS13_SUITES] \
            if hello is not None else []
        # the ticket itself, which the facts do not keep (a resumed session is found by it)
        self._offered_ticket = (_extension(body, SESSION_TICKET) or b"") \
            if SESSION_TICKET in exts else b""
        self._ticket = b""
        self._guessed = False
        self._pending = [None, None]
        self._master = self._source = None
        self._facts = None
        self._finished_seen = [False, False]
        if len(self._client_random) == 32:
            early = self.ring.keylog.get("CLIENT_EARLY_TRAFFIC_SECRET", self._client_random)
            if early is not None:
                self._early_secret = early

    def sslv2_client_hello(self, d: int, data: bytes) -> None:
        """An SSL 2.0-compatible ClientHello (RFC 5246 §E.2) opening a TLS handshake: its
        challenge, right-aligned in 32 bytes, is the client random; the message (without
        its record header) starts the transcript."""
        if len(data) < 9:
            return
        n_specs, n_sid, n_chal = (int.from_bytes(data[i:i + 2], "big") for i in (3, 5, 7))
        challenge = data[9 + n_specs + n_sid:9 + n_specs + n_sid + n_chal]
        self._client_hello(d, b"", b"")
        self._transcript = [data]
        self._client_random = challenge.rjust(32, b"\0")[-32:]

    def _server_hello(self, message: bytes, body: bytes) -> None:
        facts = server_hello_facts(body)
        if facts is None:
            from handshaker.tls.messages import ServerHello, parse_handshake

            try:
                m = parse_handshake(SERVER_HELLO, body)
            except HandshakerError:
                self._why_no_keys = Why.of("sh_bad")
                return
            assert isinstance(m, ServerHello)
            facts = ServerHelloFacts.from_message(m)
        if facts.hello_retry:
            self._hello_retry(facts, message)
            return
        self._facts = facts
        self._server_random = body[2:34]
        self._version = facts.version
        self._session_id = facts.session_id
        self._transcript.append(message)
        try:
            self._suite = cipher_suite(facts.cipher_suite)
        except (KeyError, ValueError):
            self._suite = None
        if self._suite is None or self._version < SSL30:
            self._why_no_keys = (Why.of("version", version=version_name(self._version))
                                 if self._version < SSL30 else
                                 Why.of("suite_unknown", code=f"{facts.cipher_suite:04x}"))
            return
        self._kx = self._suite.key_exchange
        self._ems = EXTENDED_MASTER_SECRET in facts.extension_types
        if self._tls13:
            self._tls13_keys()
            return
        self._explain("n_client_random", self._client_random.hex(), "m_client_random")
        self._explain("n_server_random", self._server_random.hex(), "m_server_random")
        if self._kx not in RSA_KX:
            self._explain_no_premaster()
        master = self.ring.keylog.get("CLIENT_RANDOM", self._client_random)
        if master is not None:
            self._use_master(master, self.ring.keylog.source_of(self._client_random) or "key log",
                             "m_master_keylog")
        else:
            # an abbreviated handshake (RFC 5246 §7.3) by session id, or by ticket (RFC 5077
            # §3.1: the server need not echo the id); a full one instead shows with a
            # ClientKeyExchange, which then decides
            known = None
            if self._session_id and self._session_id == self._client_session_id:
                known = self.ring.recall("session id", self._session_id)
            if known is None:
                known = self.ring.recall("ticket", self._offered_ticket)
            if known is not None:
                self._use_master(known[0], f"{known[1]}, by the session it resumes",
                                 "m_master_resumed")
                self._guessed = True

    def _hello_retry(self, facts: ServerHelloFacts, message: bytes) -> None:
        """RFC 8446 §4.4.1: the first ClientHello becomes message_hash(ClientHello1)."""
        self._facts = facts
        self._version = facts.version
        try:
            suite = cipher_suite(facts.cipher_suite)
        except (KeyError, ValueError):
            return
        if self._transcript:
            digest = hashlib.new(tls13_hash(suite), self._transcript[0]).digest()
            self._transcript = [bytes([MESSAGE_HASH, 0, 0, len(digest)]) + digest, message]

    def _client_key_exchange(self, body: bytes) -> None:
        if self._guessed:  # a full handshake after all: not the resumed session's secret
            self._master = self._source = None
            self._guessed = False
            self.out.steps.clear()
        if self._master is not None or self._kx not in RSA_KX:
            return
        # RFC 5246 §7.4.7.1: the pre-master secret, RSA-encrypted with the server's key
        enc = body[2:] if int.from_bytes(body[:2], "big") == len(body) - 2 else body
        pre = self.ring.keylog.get("RSA", enc[:8])
        source = "key log RSA line"
        if pre is None:
            key = self._server_key()
            if key is None:
                return
            pre = _rsa_decrypt(key, enc)
            source = f"RSA key {key.source}"
            if pre is None:
                self._why_no_keys = Why.of("rsa_bad", source=key.source)
                return
        self._explain("n_enc_pms", enc.hex(), "m_enc_pms")
        self._explain("n_pms", pre.hex(), "m_pms")
        if self._version == SSL30:
            master = ssl3_master_secret(pre, self._client_random, self._server_random)
            how = "m_master_ssl3"
        elif self._ems:
            h = prf_hash(self._version, self._suite)  # type: ignore[arg-type]
            data = b"".join(self._transcript)
            session_hash = hashlib.new(h, data).digest() if h else \
                hashlib.md5(data).digest() + hashlib.sha1(data).digest()
            master = prf(pre, b"extended master secret", session_hash, 48, h)
            how = "m_master_ems"
        else:
            master = prf(pre, b"master secret", self._client_random + self._server_random, 48,
                         prf_hash(self._version, self._suite))  # type: ignore[arg-type]
            how = "m_master_prf"
        self._use_master(master, source, how)

    def _server_key(self) -> ServerKey | None:
        keys = self.ring.rsa_keys
        if not keys:
            return None
        if self._server_cert is None:
            self._why_no_keys = Why.of("no_cert")
            return None
        for key in keys:
            if key.matches(self._server_cert):
                return key
        names = ", ".join(k.source for k in keys)
        self._why_no_keys = Why.of("key_mismatch", names=names)
        return None

    def _use_master(self, master: bytes, source: str, how: str) -> None:
        self._master, self._source = master, source
        self._explain("n_master", master.hex(), how)
        self._pending = [None, None]

    def _pending_keys(self) -> None:
        """TLS <= 1.2: both sides' decryptors from the master secret, for their CCS."""
        suite = self._suite
        if self._master is None or suite is None or self._facts is None:
            self._why_no_keys = self._why_no_keys or self._no_master_reason()
            return
        try:
            ckeys, skeys = key_block(self._master, self._client_random, self._server_random,
                                     suite, self._version)
            etm = self._etm_offered and ENCRYPT_THEN_MAC in self._facts.extension_types \
                and not suite.aead and suite.cipher != "NULL"
            self._pending = [
                RecordDecryptor(k, suite, self._version, self._facts.compression,
                                encrypt_then_mac=etm) for k in (ckeys, skeys)]
        except UnsupportedCipher as err:
            self._why_no_keys = Why.of("unsupported", detail=err.reason)
            return
        if self.ring.explain and not self._explained:
            self._explained = True
            kind = cipher_of(suite)[0]
            iv = IV_MEANING.get(kind) if kind != "cbc" or self._version < 0x0302 else None
            self._explain("n_key_block", "", "m_key_block")
            for who, k in zip(WHO, (ckeys, skeys), strict=True):
                self._explain_keys(who, k, Why.of("n_key_block"), iv)

    def _finished(self, who: int, message: bytes, body: bytes) -> None:
        self._finished_seen[who] = True
        want: bytes | None = None
        if self._tls13:
            secret = self._hs_secret[who]
            if secret is not None and self._suite is not None:
                want = tls13_finished(secret, b"".join(self._transcript), self._suite)
        elif self._master is not None and self._suite is not None:
            transcript = b"".join(self._transcript)
            if self._version == SSL30:
                want = ssl3_finished(self._master, WHO[who], transcript)
            else:
                want = verify_data(self._master, WHO[who], transcript, self._suite,
                                   self._version)
        if want is not None:
            ok = body == want
            self.out.finished_verified[WHO[who]] = ok
            if ok:
                self.out.key_source = self._source
            else:
                self._fail(Why.of("finished_bad", who=WHO[who], source=self._source))
        if self._open_transcript:
            self._transcript.append(message)
        if self._tls13:
            if who == CLIENT:
                self._open_transcript = False
            if self._app_secret[who] is None and self._hs_secret[who] is not None:
                self._fail(Why.of("no_app_secret", who=WHO[who],
                                  label=f"{WHO[who].upper()}_TRAFFIC_SECRET_0"))
            self._dec[who] = self._tls13_decryptor(who, self._app_secret[who])
        elif all(self._finished_seen):
            self._open_transcript = False
            if self._master is not None and self.out.finished_verified[WHO[who]]:
                source = self._source or ""
                self.ring.remember("session id", self._session_id, self._master, source)
                self.ring.remember("ticket", self._ticket, self._master, source)

    # -- TLS 1.3 -------------------------------------------------------------------------
    def _tls13_keys(self) -> None:
        suite = self._suite
        assert suite is not None
        log, rnd = self.ring.keylog, self._client_random
        for who in (CLIENT, SERVER):
            self._hs_secret[who] = log.get(f"{WHO[who].upper()}_HANDSHAKE_TRAFFIC_SECRET", rnd)
            self._app_secret[who] = log.get(f"{WHO[who].upper()}_TRAFFIC_SECRET_0", rnd)
        try:
            cipher_of(suite)
        except UnsupportedCipher as err:
            self._why_no_keys = Why.of("unsupported", detail=err.reason)
            return
        if self.ring.explain:
            self._explain_tls13(suite)
        if self._hs_secret[SERVER] is None:
            self._dec[CLIENT] = None
            return  # the reason is worked out at the end
        self._source = log.source_of(rnd) or "key log"
        self._dec[SERVER] = self._tls13_decryptor(SERVER, self._hs_secret[SERVER])
        if not isinstance(self._dec[CLIENT], Tls13RecordDecryptor):
            self._dec[CLIENT] = self._tls13_decryptor(CLIENT, self._hs_secret[CLIENT])
        # else: the client sent early data; it goes on under its early keys until its
        # EndOfEarlyData if the server's EncryptedExtensions takes the early data

    def _early_decryptor(self, rec: TLSPlaintext) -> Any:
        """TLS 1.3 early data before the ServerHello (RFC 8446 §2.3): its suite is the
        resumed session's, which no packet names yet; the client's offered suites of the
        early secret's hash are tried on the first record (at most a handful)."""
        assert self._early_secret is not None
        header = bytes([rec.content_type]) + rec.legacy_record_version.to_bytes(2, "big") + \
            rec.length.to_bytes(2, "big")
        size = len(self._early_secret)
        for code in self._offered_tls13:
            suite = cipher_suite(code)
            if hashlib.new(tls13_hash(suite)).digest_size != size:
                continue
            try:
                Tls13RecordDecryptor(self._early_secret, suite).decrypt(header, rec.fragment)
            except (DecryptError, UnsupportedCipher):
                continue
            self._source = self.ring.keylog.source_of(self._client_random) or "key log"
            return Tls13RecordDecryptor(self._early_secret, suite)
        return _DEAD

    def _tls13_decryptor(self, who: int, secret: bytes | None) -> Any:
        if secret is None or self._suite is None:
            return _DEAD
        try:
            return Tls13RecordDecryptor(secret, self._suite)
        except UnsupportedCipher as err:
            self._why_no_keys = Why.of("unsupported", detail=err.reason)
            return _DEAD

    # -- reasons -------------------------------------------------------------------------
    def _fail(self, why: Why) -> None:
        if self.out.why is None:
            self.out.why = why

    def _no_handshake_reason(self) -> Why:
        if not self._client_random:
            return Why.of("no_handshake")
        if self._facts is None:
            return Why.of("no_server_hello")
        if self._tls13:
            return self._tls13_reason()
        return self._no_master_reason()

    def _tls13_reason(self) -> Why:
        if self.ring.keylog.has_session(self._client_random):
            return Why.of("tls13_partial")
        missing = Why.of("tls13_no_secrets", rnd=self._client_random.hex()[:16]) \
            if len(self.ring.keylog) else Why.of("none_given")
        why = Why.of("tls13_fs") + missing
        if self.ring.rsa_keys:
            why += Why.of("rsa_cannot")
        return why

    def _no_master_reason(self) -> Why:
        kx = self._kx or "?"
        no_line = Why.of("no_line", rnd=self._client_random.hex()[:16]) \
            if len(self.ring.keylog) else Why.of("no_keylog")
        resumed = bool(self._session_id) and self._session_id == self._client_session_id
        if resumed:
            return Why.of("resumed") + no_line
        if kx in RSA_KX:
            if not self.ring.rsa_keys:
                return no_line + Why.of("and_no_rsa_key")
            return self._why_no_keys or no_line + Why.of("and_no_cke")
        why = Why.of("eph_fs", kx=kx.upper()) + no_line
        if self.ring.rsa_keys:
            why += Why.of("rsa_signs")
        return why

    # -- --explain-keys ------------------------------------------------------------------
    def _explain(self, name: str | Why, value: str | Why, meaning: str | Why, **args: Any
                 ) -> None:
        """One step of --explain-keys: catalogue keys (or Why) for its name, value (or the
        value itself, in hex) and meaning; ``args`` fill the meaning."""
        if not self.ring.explain:
            return
        n = name if isinstance(name, Why) else Why.of(name)
        v = value if isinstance(value, Why) or not value.startswith("v_") else Why.of(value)
        m = meaning if isinstance(meaning, Why) else Why.of(meaning, **args)
        self.out.steps.append((n, v, m))

    def _explain_keys(self, who: str, k: Keys, origin: Why, iv: str | None) -> None:
        if k.mac_key:
            self._explain(Why.of("n_mac_key", who=who), k.mac_key.hex(), "m_mac_key",
                          origin=origin, who=who)
        self._explain(Why.of("n_write_key", who=who), k.key.hex(), "m_write_key",
                      origin=origin, who=who)
        if k.iv and iv:
            self._explain(Why.of("n_iv", who=who), k.iv.hex(), iv, origin=origin)

    def _explain_no_premaster(self) -> None:
        """TLS <= 1.2 with an ephemeral key exchange: why no packet holds the secret."""
        self._explain("n_pms", "v_none", "m_no_pms", kx=(self._kx or "?").upper())
        if self.ring.rsa_keys:
            self._explain("n_rsa_key", "v_unused", "m_rsa_signs12")

    def _explain_tls13(self, suite: CipherSuite) -> None:
        name = tls13_hash(suite)
        size = hashlib.new(name).digest_size
        log, rnd = self.ring.keylog, self._client_random
        psk = self._facts is not None and self._facts.pre_shared_key
        self._explain("n_client_random", rnd.hex(), "m_client_random13")
        self._explain("n_early", "v_psk" if psk else
                      _hkdf_extract(bytes(size), bytes(size), name).hex(), "m_early")
        if self._early_offered:
            self._explain_13(log, rnd, suite, "CLIENT_EARLY_TRAFFIC_SECRET", "client",
                             Why.of("n_c_early"), Why.of("m_c_early"))
        self._explain("n_ecdhe", "v_none", "m_ecdhe13")
        self._explain("n_hs_secret", "v_none", "m_hs_secret")
        for who in WHO:
            self._explain_13(log, rnd, suite, f"{who.upper()}_HANDSHAKE_TRAFFIC_SECRET", who,
                             Why.of("n_hs_traffic", who=who),
                             Why.of("m_hs_traffic", label=who[0]))
        self._explain("n_master", "v_none", "m_master13")
        if self.ring.rsa_keys:
            self._explain("n_rsa_key", "v_unused", "m_rsa_signs13")
        for who in WHO:
            self._explain_13(log, rnd, suite, f"{who.upper()}_TRAFFIC_SECRET_0", who,
                             Why.of("n_ap_traffic", who=who),
                             Why.of("m_ap_traffic", label=who[0]))

    def _explain_13(self, log: KeyLog, rnd: bytes, suite: CipherSuite, label: str, who: str,
                    name: Why, how: Why) -> None:
        secret = log.get(label, rnd)
        if secret is None:
            self._explain(name, "v_not_logged", how)
            return
        self._explain(name, secret.hex(), how + Why.of("m_from_log", label=label))
        self._explain_keys(who, tls13_keys(secret, suite), name, IV_MEANING["tls13"])


_DEAD = _Dead()


def _hkdf_extract(salt: bytes, ikm: bytes, name: str) -> bytes:
    import hmac

    return hmac.new(salt, ikm, name).digest()


def _rsa_decrypt(key: ServerKey, enc: bytes) -> bytes | None:
    """The 48-byte pre-master secret, or None whatever went wrong (RFC 5246 §7.4.7.1: one
    answer for every failure)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        pre = key.key.decrypt(enc, padding.PKCS1v15())
    except ValueError:  # every RSA failure gets the same answer
        return None
    return pre if len(pre) == 48 else None


def _first_certificate(body: bytes, tls13: bool) -> bytes | None:
    """The DER of the first certificate of a Certificate message (RFC 5246 §7.4.2; TLS 1.3
    puts a request context first, RFC 8446 §4.4.2)."""
    p = 0
    if tls13:
        p = 1 + (body[0] if body else 0)
    p += 3  # the list's length
    n = int.from_bytes(body[p:p + 3], "big")
    der = body[p + 3:p + 3 + n]
    return der if n and len(der) == n else None


def _extension(body: bytes, ext_type: int, at: int | None = None) -> bytes | None:
    """The value of an extension of a ClientHello body (or, from ``at``, of any extension
    block), None when absent: a plain walk of the layout."""
    b = body
    try:
        if at is None:  # a ClientHello: past the version, random, session id, suites, methods
            p = 34
            p += 1 + b[p]
            p += 2 + int.from_bytes(b[p:p + 2], "big")
            p += 1 + b[p]
        else:
            p = at
        end = p + 2 + int.from_bytes(b[p:p + 2], "big")
        p += 2
        while p + 4 <= min(end, len(b)):
            n = int.from_bytes(b[p + 2:p + 4], "big")
            if int.from_bytes(b[p:p + 2], "big") == ext_type:
                return bytes(b[p + 4:p + 4 + n])
            p += 4 + n
    except IndexError:
        return None
    return None


__all__ = ["MAX_REMEMBERED_SESSIONS", "Decryption", "KeyRing", "SessionOpener", "Why"]
