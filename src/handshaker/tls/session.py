"""The TLS session model: what one TLS handshake on one TCP stream showed.

Filled by :class:`handshaker.tls.observer.TlsObserver` from the parsed
messages; read by the ladder, the ``tls`` command and the JSON contract
(docs/json.md). Values are plain data: names after the RFCs, numbers as
numbers, frames numbered as Wireshark numbers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handshaker.tls.opener import Decryption


@dataclass(slots=True)
class TlsMessage:
    """One handshake message (or CCS/alert/app-data record) as seen on the wire."""

    frame: int  # the frame that completed it (as tshark attributes records)
    dir: str  # "c2s" / "s2c" (set once the client is known)
    # snake_case: client_hello, server_hello, change_cipher_spec, finished, ..., alert,
    # heartbeat, application_data; encrypted_handshake (without keys: TLS 1.3's encrypted
    # flight, a renegotiation); sslv2_client_hello, ..., sslv2_encrypted
    type: str
    encrypted: bool = False
    length: int = 0
    direction: int = 0  # endpoint index (0 = a) of the sender, before roles are known
    ts_ns: int = 0
    decrypted: bool = False  # encrypted on the wire, and opened with the keys given

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "dir": self.dir, "type": self.type,
                "encrypted": self.encrypted, "decrypted": self.decrypted,
                "length": self.length}


@dataclass(slots=True)
class TlsAlert:
    frame: int
    dir: str
    level: str  # "warning" / "fatal" / "encrypted"
    description: int | None
    name: str
    meaning: str = ""
    direction: int = 0

    def as_dict(self) -> dict[str, Any]:
        from handshaker.tls.registry import alert

        zh = alert(self.description, "zh")[1] if self.description is not None else \
            "加密的告警 (通常是 close_notify)"
        return {"frame": self.frame, "dir": self.dir, "level": self.level,
                "description": self.description, "name": self.name, "meaning": self.meaning,
                "meaning_zh": zh}


@dataclass(slots=True)
class TlsSession:
    stream: int
    client: tuple[str, int] | None = None
    server: tuple[str, int] | None = None
    client_dir: int = 0  # endpoint index of the TLS client (the ClientHello sender)
    record_version: str | None = None
    version: str | None = None  # negotiated: supported_versions first, then server_version
    version_code: int | None = None
    cipher_suite: int | None = None  # SSL 2.0: the 3-byte CIPHER-KIND
    cipher_suite_name: str | None = None
    key_exchange: str | None = None  # rsa, dhe, ecdhe, psk, psk_dhe, tls13_ecdhe, ...
    forward_secrecy: bool | None = None
    forward_secrecy_reason: str = ""  # in English
    forward_secrecy_why: tuple[str, dict[str, Any]] | None = None  # its catalogue key, values
    group: str | None = None
    sni: str | None = None
    alpn_offered: list[str] = field(default_factory=list)
    alpn_selected: str | None = None
    resumed: bool = False
    resumption: str | None = None  # "session_id", "ticket", "psk"
    client_auth: bool = False
    hello_retry: bool = False
    hello_retry_group: str | None = None
    offered: dict[str, list[Any]] = field(default_factory=dict)
    chosen: dict[str, Any] = field(default_factory=dict)
    messages: list[TlsMessage] = field(default_factory=list)
    alerts: list[TlsAlert] = field(default_factory=list)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    ja3: str | None = None
    ja3_string: str | None = None
    ja3s: str | None = None
    ja3s_string: str | None = None
    ja4: str | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    # close_notify, fatal_alert, encrypted_alert (TLS 1.2's content type 21, or TLS 1.3's
    # record of an alert's size: which alert is unknown without keys), tcp_close (no alert:
    # truncation), reset, None
    close: str | None = None
    diagnostics: list[str] = field(default_factory=list)
    decryption: Decryption | None = None  # with keys: whether and how it was decrypted
    # decrypted application data: (endpoint index of the sender, frame, timestamp in ns,
    # bytes), in order
    data: list[tuple[int, int, int, bytes]] = field(default_factory=list)

    def set_forward_secrecy_reason(self, key: str, **kw: Any) -> None:
        """Why it has forward secrecy or not: ``key`` of explain/i18n.py's FS_REASONS."""
        self.forward_secrecy_why = (key, kw)
        self.forward_secrecy_reason = fs_english(key, tuple(kw.items()))

    def forward_secrecy_text(self, lang: str = "en") -> str:
        from handshaker.explain.i18n import fs_text

        if self.forward_secrecy_why is None:
            return self.forward_secrecy_reason
        key, kw = self.forward_secrecy_why
        return fs_text(key, lang, **kw)

    def as_dict(self, *, brief: bool = False) -> dict[str, Any]:
        """The `tls` object of the JSON contract (docs/json.md); ``brief``: analyze's,
        without the endpoints, the offer and choice, messages and certificates."""
        d: dict[str, Any] = {"stream": self.stream}
        if not brief:
            d["client"] = None if self.client is None else {"ip": self.client[0],
                                                            "port": self.client[1]}
            d["server"] = None if self.server is None else {"ip": self.server[0],
                                                            "port": self.server[1]}
        d.update({
            "version": self.version,
            "cipher_suite": None if self.cipher_suite is None else {
                "id": self.cipher_suite, "name": self.cipher_suite_name},
            "key_exchange": self.key_exchange,
            "forward_secrecy": self.forward_secrecy,
            "forward_secrecy_reason": self.forward_secrecy_reason,
            "group": self.group,
            "sni": self.sni,
            "alpn": {"offered": self.alpn_offered, "selected": self.alpn_selected},
            "resumed": self.resumed,
            "resumption": self.resumption,
            "client_auth": self.client_auth,
            "hello_retry_request": self.hello_retry,
            "hello_retry_group": self.hello_retry_group,
        })
        if not brief:
            d.update({
                "forward_secrecy_reason_zh": self.forward_secrecy_text("zh"),
                "offered": self.offered,
                "chosen": self.chosen,
                "messages": [m.as_dict() for m in self.messages],
                "certificates": self.certificates,
                "verification": self.verification,
            })
        d.update({
            "alerts": [a.as_dict() for a in self.alerts],
            "ja3": self.ja3,
            "ja3s": self.ja3s,
            "ja4": self.ja4,
            "timing_ms": self.timing_ms,
            "close": self.close,
            "diagnostics": self.diagnostics,
        })
        if self.decryption is not None:
            d["decrypted"] = self.decryption.as_dict()
        return d


#: the English reasons made so far, by catalogue key and values: a handful in any capture
#: (a limit all the same, STYLE §10: cleared when full)
_FS_ENGLISH: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}
MAX_FS_ENGLISH = 256


def fs_english(key: str, kw: tuple[tuple[str, Any], ...] = ()) -> str:
    """The English reason of catalogue key ``key`` with the values ``kw`` (see
    set_forward_secrecy_reason), made once."""
    text = _FS_ENGLISH.get((key, kw))
    if text is None:
        from handshaker.explain.i18n import fs_text

        if len(_FS_ENGLISH) >= MAX_FS_ENGLISH:
            _FS_ENGLISH.clear()
        text = _FS_ENGLISH[key, kw] = fs_text(key, "en", **dict(kw))
    return text
