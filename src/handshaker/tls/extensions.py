"""TLS extensions: kept in wire order, raw bytes always, typed values where known.

Every extension is an :class:`Extension` holding its ``extension_type``,
its exact ``extension_data`` and, for the types below, a typed ``value``
(a frozen dataclass named after the RFC structure, fields as in the RFC).
Unknown and GREASE types keep ``value=None``; nothing is dropped and the
order is the wire order (JA3/JA4 need it).

Several extensions mean different things in different messages (RFC 8446
§4.2: ``supported_versions`` is a list in a ClientHello and one version in
a ServerHello; ``key_share`` has three forms). The parsers therefore take
the *context*: the handshake message the extension block belongs to.

Names are kept out of here: types, groups and schemes are numbers;
``handshaker.tls.registry`` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from handshaker.errors import MalformedError
from handshaker.tls.buffer import Buffer, BufferWriter
from handshaker.tls.codes import (  # (defined there: see tls/codes.py)
    ALPN,
    COMPRESS_CERTIFICATE,
    COOKIE,
    EARLY_DATA,
    EC_POINT_FORMATS,
    ENCRYPT_THEN_MAC,
    EXTENDED_MASTER_SECRET,
    KEY_SHARE,
    KEY_SHARE_DRAFT,
    PADDING,
    POST_HANDSHAKE_AUTH,
    PRE_SHARED_KEY,
    PSK_KEY_EXCHANGE_MODES,
    RECORD_SIZE_LIMIT,
    RENEGOTIATION_INFO,
    SERVER_NAME,
    SESSION_TICKET,
    SIGNATURE_ALGORITHMS,
    SIGNATURE_ALGORITHMS_CERT,
    STATUS_REQUEST,
    SUPPORTED_GROUPS,
    SUPPORTED_VERSIONS,
)
from handshaker.tls.registry import is_grease as is_grease  # RFC 8701; re-exported

Context: TypeAlias = Literal[
    "client_hello", "server_hello", "hello_retry_request", "encrypted_extensions",
    "certificate", "certificate_request", "new_session_ticket",
]



# -- typed values -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Empty:
    """An extension whose ``extension_data`` is empty by definition (a flag)."""


@dataclass(frozen=True, slots=True)
class ServerName:
    """RFC 6066 §3."""

    name_type: int  # 0 = host_name
    host_name: bytes  # the opaque name (ASCII for host_name)


@dataclass(frozen=True, slots=True)
class ServerNameList:
    """RFC 6066 §3: the client's list (servers echo an empty extension)."""

    server_name_list: tuple[ServerName, ...]


@dataclass(frozen=True, slots=True)
class ProtocolNameList:
    """RFC 7301 §3.1 (ALPN): offered by the client, one selected by the server."""

    protocol_name_list: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class NamedGroupList:
    """RFC 8446 §4.2.7 supported_groups (RFC 4492: elliptic_curves)."""

    named_group_list: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ECPointFormatList:
    """RFC 8422 §5.1.2."""

    ec_point_format_list: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SignatureSchemeList:
    """RFC 8446 §4.2.3 (signature_algorithms and signature_algorithms_cert)."""

    supported_signature_algorithms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SupportedVersions:
    """RFC 8446 §4.2.1: ``versions`` in a ClientHello, ``selected_version`` in a ServerHello."""

    versions: tuple[int, ...] | None = None
    selected_version: int | None = None


@dataclass(frozen=True, slots=True)
class KeyShareEntry:
    """RFC 8446 §4.2.8."""

    group: int
    key_exchange: bytes


@dataclass(frozen=True, slots=True)
class KeyShareClientHello:
    client_shares: tuple[KeyShareEntry, ...]


@dataclass(frozen=True, slots=True)
class KeyShareServerHello:
    server_share: KeyShareEntry


@dataclass(frozen=True, slots=True)
class KeyShareHelloRetryRequest:
    selected_group: int


@dataclass(frozen=True, slots=True)
class PskKeyExchangeModes:
    """RFC 8446 §4.2.9 (0 = psk_ke, 1 = psk_dhe_ke)."""

    ke_modes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PskIdentity:
    identity: bytes
    obfuscated_ticket_age: int


@dataclass(frozen=True, slots=True)
class OfferedPsks:
    """RFC 8446 §4.2.11."""

    identities: tuple[PskIdentity, ...]
    binders: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class PreSharedKeyExtension:
    """RFC 8446 §4.2.11: ``offered_psks`` from the client, ``selected_identity`` from the server."""

    offered_psks: OfferedPsks | None = None
    selected_identity: int | None = None


@dataclass(frozen=True, slots=True)
class EarlyDataIndication:
    """RFC 8446 §4.2.10: empty in ClientHello/EncryptedExtensions, a size in NewSessionTicket."""

    max_early_data_size: int | None = None


@dataclass(frozen=True, slots=True)
class SessionTicket:
    """RFC 5077 §3.2: the ticket offered (empty: "I support tickets")."""

    ticket: bytes


@dataclass(frozen=True, slots=True)
class RenegotiationInfo:
    """RFC 5746 §3.2."""

    renegotiated_connection: bytes


@dataclass(frozen=True, slots=True)
class OCSPStatusRequest:
    responder_id_list: tuple[bytes, ...]
    request_extensions: bytes


@dataclass(frozen=True, slots=True)
class CertificateStatusRequest:
    """RFC 6066 §8 (client and TLS 1.3 CertificateRequest): status_type 1 = ocsp."""

    status_type: int
    request: OCSPStatusRequest | bytes  # bytes: a status_type other than ocsp, kept raw


@dataclass(frozen=True, slots=True)
class CertificateStatusExtension:
    """RFC 8446 §4.4.2.1: status_request in a TLS 1.3 CertificateEntry carries the response."""

    status_type: int
    response: bytes  # the DER OCSPResponse for status_type 1


@dataclass(frozen=True, slots=True)
class RecordSizeLimit:
    """RFC 8449 §4."""

    record_size_limit: int


@dataclass(frozen=True, slots=True)
class Padding:
    """RFC 7685: zero bytes (kept as sent, in case they are not zero)."""

    padding: bytes


@dataclass(frozen=True, slots=True)
class CertificateCompressionAlgorithms:
    """RFC 8879 §3."""

    algorithms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Cookie:
    """RFC 8446 §4.2.2."""

    cookie: bytes


ExtensionValue: TypeAlias = (
    Empty | ServerNameList | ProtocolNameList | NamedGroupList | ECPointFormatList
    | SignatureSchemeList | SupportedVersions | KeyShareClientHello | KeyShareServerHello
    | KeyShareHelloRetryRequest | PskKeyExchangeModes | PreSharedKeyExtension
    | EarlyDataIndication | SessionTicket | RenegotiationInfo | CertificateStatusRequest
    | CertificateStatusExtension | RecordSizeLimit | Padding | CertificateCompressionAlgorithms
    | Cookie
)


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension as sent: its type, its exact data and (when known) the typed value."""

    extension_type: int
    extension_data: bytes
    value: ExtensionValue | None = None

    @property
    def is_grease(self) -> bool:
        return is_grease(self.extension_type)


# -- parsing -------------------------------------------------------------------------


def _pull_server_name_list(buf: Buffer) -> ServerNameList:
    def one(b: Buffer) -> ServerName:
        name_type = b.pull_uint8("name_type")
        # RFC 6066: every NameType defined so far (only host_name) is a 2-byte vector
        return ServerName(name_type, b.pull_vector(2, "host_name", min_length=1))
    return ServerNameList(buf.pull_list(2, one, "server_name_list", min_length=1))


def _pull_alpn(buf: Buffer) -> ProtocolNameList:
    return ProtocolNameList(buf.pull_list(
        2, lambda b: b.pull_vector(1, "protocol_name", min_length=1),
        "protocol_name_list", min_length=2))


def _pull_key_share_entry(buf: Buffer) -> KeyShareEntry:
    group = buf.pull_uint16("group")
    return KeyShareEntry(group, buf.pull_vector(2, "key_exchange", min_length=1))


def _pull_psk_identity(buf: Buffer) -> PskIdentity:
    identity = buf.pull_vector(2, "identity", min_length=1)
    return PskIdentity(identity, buf.pull_uint32("obfuscated_ticket_age"))


def _pull_status_request(buf: Buffer) -> CertificateStatusRequest:
    status_type = buf.pull_uint8("status_type")
    if status_type != 1:  # RFC 6066 §8: only ocsp(1) has a defined form
        return CertificateStatusRequest(status_type, buf.pull_rest("request"))
    ids = buf.pull_list(2, lambda b: b.pull_vector(2, "ResponderID", min_length=1),
                        "responder_id_list")
    return CertificateStatusRequest(
        status_type, OCSPStatusRequest(ids, buf.pull_vector(2, "request_extensions")))


def _pull_value(ext_type: int, buf: Buffer, context: Context) -> ExtensionValue | None:
    """The typed value of one extension's data; ``buf`` holds exactly that data."""
    client = context == "client_hello"
    if ext_type == SERVER_NAME:
        # RFC 6066 §3: the server's extension_data is empty
        return _pull_server_name_list(buf) if client or not buf.eof() else Empty()
    if ext_type == ALPN:
        return _pull_alpn(buf)
    if ext_type == SUPPORTED_GROUPS:
        return NamedGroupList(buf.pull_uint16_list(2, "named_group_list", min_length=2))
    if ext_type == EC_POINT_FORMATS:
        return ECPointFormatList(tuple(buf.pull_vector(1, "ec_point_format_list", min_length=1)))
    if ext_type in (SIGNATURE_ALGORITHMS, SIGNATURE_ALGORITHMS_CERT):
        return SignatureSchemeList(buf.pull_uint16_list(
            2, "supported_signature_algorithms", min_length=2))
    if ext_type == SUPPORTED_VERSIONS:
        if client:
            return SupportedVersions(versions=buf.pull_uint16_list(1, "versions", min_length=2))
        return SupportedVersions(selected_version=buf.pull_uint16("selected_version"))
    if ext_type in (KEY_SHARE, KEY_SHARE_DRAFT):
        if client:
            return KeyShareClientHello(buf.pull_list(2, _pull_key_share_entry, "client_shares"))
        if context == "hello_retry_request":
            return KeyShareHelloRetryRequest(buf.pull_uint16("selected_group"))
        return KeyShareServerHello(_pull_key_share_entry(buf))
    if ext_type == PSK_KEY_EXCHANGE_MODES:
        return PskKeyExchangeModes(tuple(buf.pull_vector(1, "ke_modes", min_length=1)))
    if ext_type == PRE_SHARED_KEY:
        if client:
            identities = buf.pull_list(2, _pull_psk_identity, "identities", min_length=7)
            binders = buf.pull_list(2, lambda b: b.pull_vector(1, "PskBinderEntry", min_length=32),
                                    "binders", min_length=33)
            return PreSharedKeyExtension(offered_psks=OfferedPsks(identities, binders))
        return PreSharedKeyExtension(selected_identity=buf.pull_uint16("selected_identity"))
    if ext_type == EARLY_DATA:
        if context == "new_session_ticket":
            return EarlyDataIndication(buf.pull_uint32("max_early_data_size"))
        return EarlyDataIndication()
    if ext_type == SESSION_TICKET:
        return SessionTicket(buf.pull_rest("ticket"))
    if ext_type in (EXTENDED_MASTER_SECRET, ENCRYPT_THEN_MAC, POST_HANDSHAKE_AUTH):
        return Empty()
    if ext_type == RENEGOTIATION_INFO:
        return RenegotiationInfo(buf.pull_vector(1, "renegotiated_connection"))
    if ext_type == STATUS_REQUEST:
        if context in ("client_hello", "certificate_request"):
            return _pull_status_request(buf)
        if context == "certificate":
            status_type = buf.pull_uint8("status_type")
            return CertificateStatusExtension(
                status_type, buf.pull_vector(3, "ocsp_response", min_length=1))
        return Empty()  # RFC 6066 §8: the server's (TLS 1.2) extension is empty
    if ext_type == RECORD_SIZE_LIMIT:
        return RecordSizeLimit(buf.pull_uint16("record_size_limit"))
    if ext_type == PADDING:
        return Padding(buf.pull_rest("padding"))
    if ext_type == COMPRESS_CERTIFICATE:
        return CertificateCompressionAlgorithms(
            buf.pull_uint16_list(1, "algorithms", min_length=2))
    if ext_type == COOKIE:
        return Cookie(buf.pull_vector(2, "cookie", min_length=1))
    return None


def pull_extension(buf: Buffer, context: Context) -> Extension:
    """One ``Extension`` (RFC 8446 §4.2): type, data<0..2^16-1>, consumed exactly."""
    ext_type = buf.pull_uint16("extension_type")
    at = buf.offset + 2
    data = buf.pull_vector(2, "extension_data")
    if is_grease(ext_type):
        return Extension(ext_type, data)
    inner = Buffer(data, at, complete=True)
    try:
        value = _pull_value(ext_type, inner, context)
        if value is None:
            return Extension(ext_type, data)
        inner.expect_eof(f"extension {ext_type}")
    except MalformedError as err:
        raise MalformedError(f"extension {ext_type}: {err.reason}", offset=err.offset,
                             field=err.field) from err
    return Extension(ext_type, data, value)


def pull_extensions(buf: Buffer, context: Context) -> tuple[Extension, ...]:
    """The ``extensions<0..2^16-1>`` block: every extension in wire order."""
    return buf.pull_list(2, lambda b: pull_extension(b, context), "extensions")


# -- building ------------------------------------------------------------------------


def build_extension_data(value: ExtensionValue) -> bytes:
    """The ``extension_data`` bytes of a typed value (the inverse of parsing)."""
    w = BufferWriter()
    if isinstance(value, Empty):
        pass
    elif isinstance(value, EarlyDataIndication):
        if value.max_early_data_size is not None:
            w.push_uint32(value.max_early_data_size)
    elif isinstance(value, ServerNameList):
        with w.push_block(2):
            for sn in value.server_name_list:
                w.push_uint8(sn.name_type)
                w.push_vector(2, sn.host_name)
    elif isinstance(value, ProtocolNameList):
        with w.push_block(2):
            for name in value.protocol_name_list:
                w.push_vector(1, name)
    elif isinstance(value, NamedGroupList):
        w.push_uint16_list(2, value.named_group_list)
    elif isinstance(value, ECPointFormatList):
        w.push_vector(1, bytes(value.ec_point_format_list))
    elif isinstance(value, SignatureSchemeList):
        w.push_uint16_list(2, value.supported_signature_algorithms)
    elif isinstance(value, SupportedVersions):
        if value.versions is not None:
            w.push_uint16_list(1, value.versions)
        else:
            w.push_uint16(value.selected_version or 0)
    elif isinstance(value, KeyShareClientHello):
        with w.push_block(2):
            for e in value.client_shares:
                w.push_uint16(e.group)
                w.push_vector(2, e.key_exchange)
    elif isinstance(value, KeyShareServerHello):
        w.push_uint16(value.server_share.group)
        w.push_vector(2, value.server_share.key_exchange)
    elif isinstance(value, KeyShareHelloRetryRequest):
        w.push_uint16(value.selected_group)
    elif isinstance(value, PskKeyExchangeModes):
        w.push_vector(1, bytes(value.ke_modes))
    elif isinstance(value, PreSharedKeyExtension):
        if value.offered_psks is not None:
            with w.push_block(2):
                for ident in value.offered_psks.identities:
                    w.push_vector(2, ident.identity)
                    w.push_uint32(ident.obfuscated_ticket_age)
            with w.push_block(2):
                for binder in value.offered_psks.binders:
                    w.push_vector(1, binder)
        else:
            w.push_uint16(value.selected_identity or 0)
    elif isinstance(value, SessionTicket):
        w.push_bytes(value.ticket)
    elif isinstance(value, RenegotiationInfo):
        w.push_vector(1, value.renegotiated_connection)
    elif isinstance(value, CertificateStatusRequest):
        w.push_uint8(value.status_type)
        if isinstance(value.request, OCSPStatusRequest):
            with w.push_block(2):
                for rid in value.request.responder_id_list:
                    w.push_vector(2, rid)
            w.push_vector(2, value.request.request_extensions)
        else:
            w.push_bytes(value.request)
    elif isinstance(value, CertificateStatusExtension):
        w.push_uint8(value.status_type)
        w.push_vector(3, value.response)
    elif isinstance(value, RecordSizeLimit):
        w.push_uint16(value.record_size_limit)
    elif isinstance(value, Padding):
        w.push_bytes(value.padding)
    elif isinstance(value, CertificateCompressionAlgorithms):
        w.push_uint16_list(1, value.algorithms)
    elif isinstance(value, Cookie):
        w.push_vector(2, value.cookie)
    return w.data()


def make_extension(extension_type: int, value: ExtensionValue) -> Extension:
    """An :class:`Extension` whose data is built from ``value`` (for building messages)."""
    return Extension(extension_type, build_extension_data(value), value)


def push_extensions(w: BufferWriter, extensions: tuple[Extension, ...]) -> None:
    """Write the ``extensions`` block from each extension's exact data."""
    with w.push_block(2):
        for ext in extensions:
            w.push_uint16(ext.extension_type)
            w.push_vector(2, ext.extension_data)


# -- lookups -------------------------------------------------------------------------


def find(extensions: tuple[Extension, ...] | None, extension_type: int) -> Extension | None:
    """The first extension of a type, or None."""
    for ext in extensions or ():
        if ext.extension_type == extension_type:
            return ext
    return None
