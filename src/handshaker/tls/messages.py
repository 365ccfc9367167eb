"""TLS handshake messages (SSL 3.0, TLS 1.0–1.3), parsed and built.

One frozen dataclass per RFC structure, with the RFC's field names (RFC
8446 names where TLS 1.3 renamed a field, e.g. ``legacy_version`` for
RFC 5246's ``client_version``), and for each a ``pull_x(buf, …) -> X`` and a
``build_x(x) -> bytes``. Every parser reads its body exactly: a byte too
few or too many is a :class:`MalformedError` naming the field and offset.
A message's dataclass determines its bytes: ``build_x(pull_x(body)) ==
body`` for every well-formed body (the tests check this on real captures).

Some bodies cannot be read from the bytes alone: their form depends on the
negotiated ``version`` (a TLS 1.3 Certificate carries a request context
and per-entry extensions) or on the cipher suite's key exchange ``kx``
(ServerKeyExchange, ClientKeyExchange). :func:`parse_handshake` takes both;
when one is unknown (``None``) the forms that fit are tried in turn and the
first that consumes the body exactly wins (documented per message).

``kx`` is a key-exchange family name; :func:`normalize_kx` maps the usual
spellings (``ECDHE_RSA``, ``dhe_dss``, ``RSA_EXPORT``, ``psk_dhe`` …) to
the families parsed here: ``rsa``, ``dhe``, ``dh``, ``dh_anon``,
``ecdhe``, ``ecdh``, ``ecdh_anon``, ``psk``, ``rsa_psk``, ``dhe_psk``,
``ecdhe_psk``, ``srp``, ``tls13``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from handshaker.errors import MalformedError
from handshaker.tls.buffer import Buffer, BufferWriter
from handshaker.tls.codes import (  # noqa: F401 (re-exported: see tls/codes.py)
    CERTIFICATE,
    CERTIFICATE_REQUEST,
    CERTIFICATE_STATUS,
    CERTIFICATE_VERIFY,
    CLIENT_HELLO,
    CLIENT_KEY_EXCHANGE,
    COMPRESSED_CERTIFICATE,
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    ENCRYPTED_EXTENSIONS,
    END_OF_EARLY_DATA,
    FINISHED,
    HELLO_REQUEST,
    HELLO_RETRY_REQUEST_RANDOM,
    HELLO_VERIFY_REQUEST,
    KEY_UPDATE,
    KX_FAMILIES,
    MESSAGE_HASH,
    NEW_SESSION_TICKET,
    SERVER_HELLO,
    SERVER_HELLO_DONE,
    SERVER_KEY_EXCHANGE,
    SSL2,
    SSL2_CLIENT_FINISHED,
    SSL2_CLIENT_HELLO,
    SSL2_CLIENT_MASTER_KEY,
    SSL2_ERROR,
    SSL2_SERVER_FINISHED,
    SSL2_SERVER_HELLO,
    SSL2_SERVER_VERIFY,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    is_tls13,
    normalize_kx,
)
from handshaker.tls.extensions import (
    SUPPORTED_VERSIONS,
    Context,
    Extension,
    SupportedVersions,
    find,
    pull_extensions,
    push_extensions,
)

T = TypeVar("T")

def _draft_server_hello(version: int) -> bool:
    """Drafts before 22 sent a ServerHello without session id and compression."""
    return (version >> 8) == 0x7F and (version & 0xFF) < 22


# -- the handshake header ---------------------------------------------------------------


def pull_handshake_header(buf: Buffer) -> tuple[int, int]:
    """``msg_type`` (uint8) and ``length`` (uint24) of a Handshake (RFC 8446 §4)."""
    return buf.pull_uint8("msg_type"), buf.pull_uint24("length")


def build_handshake_header(msg_type: int, body: bytes) -> bytes:
    w = BufferWriter()
    w.push_uint8(msg_type)
    w.push_vector(3, body)
    return w.data()


# -- messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """RFC 5246 §7.4.1.1: empty."""


@dataclass(frozen=True, slots=True)
class ClientHello:
    """RFC 8446 §4.1.2 (RFC 5246 §7.4.1.2: client_version, session_id, compression_methods)."""

    legacy_version: int
    random: bytes
    legacy_session_id: bytes
    cipher_suites: tuple[int, ...]
    legacy_compression_methods: bytes
    extensions: tuple[Extension, ...] | None  # None: no extensions block at all (pre-RFC 3546)

    def find(self, extension_type: int) -> Extension | None:
        return find(self.extensions, extension_type)


@dataclass(frozen=True, slots=True)
class ServerHello:
    """RFC 8446 §4.1.3 (and HelloRetryRequest, which has the same form).

    ``legacy_session_id_echo`` and ``legacy_compression_method`` are None
    only in the ServerHello of TLS 1.3 drafts before 22, which had neither.
    """

    legacy_version: int
    random: bytes
    legacy_session_id_echo: bytes | None
    cipher_suite: int
    legacy_compression_method: int | None
    extensions: tuple[Extension, ...] | None

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def selected_version(self) -> int:
        """supported_versions' selected_version if present, else legacy_version."""
        ext = find(self.extensions, SUPPORTED_VERSIONS)
        if ext is not None and isinstance(ext.value, SupportedVersions) \
                and ext.value.selected_version is not None:
            return ext.value.selected_version
        return self.legacy_version

    @property
    def downgrade_sentinel(self) -> int | None:
        """RFC 8446 §4.1.3: 0x0303 / 0x0302 when the random says "I could do TLS 1.3"."""
        tail = self.random[-8:]
        return TLS12 if tail == DOWNGRADE_TLS12 else TLS11 if tail == DOWNGRADE_TLS11 else None

    def find(self, extension_type: int) -> Extension | None:
        return find(self.extensions, extension_type)


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest:
    """RFC 6347 §4.2.1 (DTLS)."""

    server_version: int
    cookie: bytes


@dataclass(frozen=True, slots=True)
class NewSessionTicket:
    """RFC 5077 §3.3 (TLS ≤ 1.2)."""

    ticket_lifetime_hint: int
    ticket: bytes


@dataclass(frozen=True, slots=True)
class NewSessionTicketTLS13:
    """RFC 8446 §4.6.1."""

    ticket_lifetime: int
    ticket_age_add: int
    ticket_nonce: bytes
    ticket: bytes
    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True)
class EndOfEarlyData:
    """RFC 8446 §4.5: empty."""


@dataclass(frozen=True, slots=True)
class EncryptedExtensions:
    """RFC 8446 §4.3.1."""

    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """RFC 8446 §4.4.2 (in TLS ≤ 1.2 an ASN.1Cert: ``extensions`` is None)."""

    cert_data: bytes
    extensions: tuple[Extension, ...] | None = None


@dataclass(frozen=True, slots=True)
class Certificate:
    """RFC 5246 §7.4.2 / RFC 8446 §4.4.2.

    ``certificate_request_context`` is None in TLS ≤ 1.2, bytes in TLS 1.3.
    """

    certificate_request_context: bytes | None
    certificate_list: tuple[CertificateEntry, ...]


@dataclass(frozen=True, slots=True)
class ServerECDHParams:
    """RFC 8422 §5.4: ``curve_type`` 3 (named_curve) with ``named_group``.

    For the deprecated explicit curves (1, 2) the parameters are kept raw
    in ``curve_params`` and ``named_group`` is None.
    """

    curve_type: int
    named_group: int | None
    public: bytes
    curve_params: bytes = b""


@dataclass(frozen=True, slots=True)
class ServerDHParams:
    """RFC 5246 §7.4.3."""

    dh_p: bytes
    dh_g: bytes
    dh_Ys: bytes


@dataclass(frozen=True, slots=True)
class ServerRSAParams:
    """RFC 2246 §7.4.3 (RSA_EXPORT: a temporary 512-bit key)."""

    rsa_modulus: bytes
    rsa_exponent: bytes


ServerParams: TypeAlias = ServerECDHParams | ServerDHParams | ServerRSAParams


@dataclass(frozen=True, slots=True)
class ServerKeyExchange:
    """RFC 5246 §7.4.3, RFC 8422 §5.4, RFC 4279 §2 (PSK).

    ``algorithm`` (the SignatureAndHashAlgorithm / SignatureScheme code) is
    present from TLS 1.2 on; ``signature`` is None for anonymous and PSK
    exchanges. ``unparsed`` holds a body of a key exchange not parsed here.
    """

    params: ServerParams | None
    psk_identity_hint: bytes | None = None
    algorithm: int | None = None
    signature: bytes | None = None
    unparsed: bytes | None = None


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """RFC 5246 §7.4.4 (``supported_signature_algorithms`` is None before TLS 1.2)."""

    certificate_types: bytes
    supported_signature_algorithms: tuple[int, ...] | None
    certificate_authorities: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CertificateRequestTLS13:
    """RFC 8446 §4.3.2."""

    certificate_request_context: bytes
    extensions: tuple[Extension, ...]


@dataclass(frozen=True, slots=True)
class ServerHelloDone:
    """RFC 5246 §7.4.5: empty."""


@dataclass(frozen=True, slots=True)
class CertificateVerify:
    """RFC 8446 §4.4.3 / RFC 5246 §7.4.8 (``algorithm`` is None before TLS 1.2)."""

    algorithm: int | None
    signature: bytes


@dataclass(frozen=True, slots=True)
class ClientKeyExchange:
    """RFC 5246 §7.4.7, RFC 8422 §5.7, RFC 4279 §2–4.

    One of: ``encrypted_pre_master_secret`` (RSA, RSA_PSK), ``dh_Yc`` (DH),
    ``ecdh_Yc`` (ECDH), each after ``psk_identity`` for the PSK variants;
    all None for an implicit (certificate-borne) DH/ECDH key. In SSL 3.0
    the RSA EncryptedPreMasterSecret has no length prefix
    (``length_prefix=False``; RFC 5246 §7.4.7.1). ``unparsed`` holds a body
    whose form was not known.
    """

    encrypted_pre_master_secret: bytes | None = None
    dh_Yc: bytes | None = None
    ecdh_Yc: bytes | None = None
    psk_identity: bytes | None = None
    length_prefix: bool = True
    unparsed: bytes | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """RFC 8446 §4.4.4: ``verify_data`` (12 bytes in TLS ≤ 1.2, 36 in SSL 3.0, a hash in 1.3)."""

    verify_data: bytes


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """RFC 6066 §8: status_type 1 (ocsp) carries one DER OCSPResponse in ``response``.

    For other status types (RFC 6961 ocsp_multi = 2) ``response`` holds the
    rest of the body unparsed.
    """

    status_type: int
    response: bytes


@dataclass(frozen=True, slots=True)
class KeyUpdate:
    """RFC 8446 §4.6.3 (0 = update_not_requested, 1 = update_requested)."""

    request_update: int


@dataclass(frozen=True, slots=True)
class CompressedCertificate:
    """RFC 8879 §4."""

    algorithm: int
    uncompressed_length: int
    compressed_certificate_message: bytes


@dataclass(frozen=True, slots=True)
class UnknownHandshake:
    """A handshake message of a type not parsed here, kept as it came."""

    msg_type: int
    body: bytes


Message: TypeAlias = (
    HelloRequest | ClientHello | ServerHello | HelloVerifyRequest | NewSessionTicket
    | NewSessionTicketTLS13 | EndOfEarlyData | EncryptedExtensions | Certificate
    | ServerKeyExchange | CertificateRequest | CertificateRequestTLS13 | ServerHelloDone
    | CertificateVerify | ClientKeyExchange | Finished | CertificateStatus | KeyUpdate
    | CompressedCertificate | UnknownHandshake
)


# -- parsers ---------------------------------------------------------------------------


def _empty(buf: Buffer, what: str) -> None:
    buf.expect_eof(what)


def pull_hello_request(buf: Buffer) -> HelloRequest:
    _empty(buf, "hello_request")
    return HelloRequest()


def pull_client_hello(buf: Buffer) -> ClientHello:
    legacy_version = buf.pull_uint16("legacy_version")
    random = buf.pull_bytes(32, "random")
    session_id = buf.pull_vector(1, "legacy_session_id", max_length=32)
    cipher_suites = buf.pull_uint16_list(2, "cipher_suites", min_length=2)
    compression = buf.pull_vector(1, "legacy_compression_methods", min_length=1)
    # RFC 5246 §7.4.1.2: a ClientHello may end here (no extensions block)
    extensions = None if buf.eof() else pull_extensions(buf, "client_hello")
    buf.expect_eof("client_hello")
    return ClientHello(legacy_version, random, session_id, cipher_suites, compression, extensions)


def pull_server_hello(buf: Buffer) -> ServerHello:
    legacy_version = buf.pull_uint16("legacy_version")
    random = buf.pull_bytes(32, "random")
    context: Context = ("hello_retry_request" if random == HELLO_RETRY_REQUEST_RANDOM
                        else "server_hello")
    if _draft_server_hello(legacy_version):
        cipher_suite = buf.pull_uint16("cipher_suite")
        extensions = pull_extensions(buf, context)
        buf.expect_eof("server_hello")
        return ServerHello(legacy_version, random, None, cipher_suite, None, extensions)
    session_id = buf.pull_vector(1, "legacy_session_id_echo", max_length=32)
    cipher_suite = buf.pull_uint16("cipher_suite")
    compression = buf.pull_uint8("legacy_compression_method")
    exts = None if buf.eof() else pull_extensions(buf, context)
    buf.expect_eof("server_hello")
    return ServerHello(legacy_version, random, session_id, cipher_suite, compression, exts)


def pull_hello_verify_request(buf: Buffer) -> HelloVerifyRequest:
    server_version = buf.pull_uint16("server_version")
    cookie = buf.pull_vector(1, "cookie")
    buf.expect_eof("hello_verify_request")
    return HelloVerifyRequest(server_version, cookie)


def pull_new_session_ticket(buf: Buffer) -> NewSessionTicket:
    hint = buf.pull_uint32("ticket_lifetime_hint")
    ticket = buf.pull_vector(2, "ticket")
    buf.expect_eof("new_session_ticket")
    return NewSessionTicket(hint, ticket)


def pull_new_session_ticket_tls13(buf: Buffer) -> NewSessionTicketTLS13:
    lifetime = buf.pull_uint32("ticket_lifetime")
    age_add = buf.pull_uint32("ticket_age_add")
    nonce = buf.pull_vector(1, "ticket_nonce")
    ticket = buf.pull_vector(2, "ticket", min_length=1)
    extensions = pull_extensions(buf, "new_session_ticket")
    buf.expect_eof("new_session_ticket")
    return NewSessionTicketTLS13(lifetime, age_add, nonce, ticket, extensions)


def pull_end_of_early_data(buf: Buffer) -> EndOfEarlyData:
    _empty(buf, "end_of_early_data")
    return EndOfEarlyData()


def pull_encrypted_extensions(buf: Buffer) -> EncryptedExtensions:
    extensions = pull_extensions(buf, "encrypted_extensions")
    buf.expect_eof("encrypted_extensions")
    return EncryptedExtensions(extensions)


def pull_certificate(buf: Buffer) -> Certificate:
    """The TLS ≤ 1.2 form: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>."""
    certs = buf.pull_list(3, lambda b: CertificateEntry(b.pull_vector(3, "ASN.1Cert",
                                                                      min_length=1)),
                          "certificate_list")
    buf.expect_eof("certificate")
    return Certificate(None, certs)


def _pull_certificate_entry(buf: Buffer) -> CertificateEntry:
    cert_data = buf.pull_vector(3, "cert_data", min_length=1)
    return CertificateEntry(cert_data, pull_extensions(buf, "certificate"))


def pull_certificate_tls13(buf: Buffer) -> Certificate:
    """The TLS 1.3 form: request context, then CertificateEntry with extensions."""
    context = buf.pull_vector(1, "certificate_request_context")
    entries = buf.pull_list(3, _pull_certificate_entry, "certificate_list")
    buf.expect_eof("certificate")
    return Certificate(context, entries)


def pull_server_ecdh_params(buf: Buffer) -> ServerECDHParams:
    curve_type = buf.pull_uint8("curve_type")
    if curve_type == 3:  # named_curve (RFC 8422 §5.4)
        group = buf.pull_uint16("named_group")
        return ServerECDHParams(curve_type, group, buf.pull_vector(1, "public", min_length=1))
    start = buf.tell()
    if curve_type == 1:  # explicit_prime (RFC 4492 §5.4)
        names: tuple[str, ...] = ("prime_p", "a", "b", "base", "order", "cofactor")
    elif curve_type == 2:  # explicit_char2: m, basis, k or k1..k3, then as explicit_prime
        buf.pull_uint16("m")
        basis = buf.pull_uint8("basis")
        if basis not in (1, 2):
            raise MalformedError(f"ECBasisType {basis} (1 = trinomial, 2 = pentanomial)",
                                 offset=buf.offset - 1, field="basis")
        names = (("k",) if basis == 1 else ("k1", "k2", "k3")) + (
            "a", "b", "base", "order", "cofactor")
    else:
        raise MalformedError(f"curve_type {curve_type} (1, 2 or 3 = named_curve)",
                             offset=buf.offset - 1, field="curve_type")
    for name in names:
        buf.pull_vector(1, name, min_length=1)
    raw = buf.consumed_since(start)
    return ServerECDHParams(curve_type, None, buf.pull_vector(1, "public", min_length=1), raw)


def pull_server_dh_params(buf: Buffer) -> ServerDHParams:
    p = buf.pull_vector(2, "dh_p", min_length=1)
    g = buf.pull_vector(2, "dh_g", min_length=1)
    return ServerDHParams(p, g, buf.pull_vector(2, "dh_Ys", min_length=1))


def pull_server_rsa_params(buf: Buffer) -> ServerRSAParams:
    modulus = buf.pull_vector(2, "rsa_modulus", min_length=1)
    return ServerRSAParams(modulus, buf.pull_vector(2, "rsa_exponent", min_length=1))


def _pull_signed(buf: Buffer, with_algorithm: bool) -> tuple[int | None, bytes]:
    algorithm = buf.pull_uint16("algorithm") if with_algorithm else None
    return algorithm, buf.pull_vector(2, "signature")


def _first_fit(body: bytes, offset: int, forms: list[Callable[[Buffer], T]]) -> T:
    """The first form that reads ``body`` exactly; else the first form's error."""
    first: MalformedError | None = None
    for form in forms:
        try:
            return form(Buffer(body, offset, complete=True))
        except MalformedError as err:
            first = first or err
    assert first is not None
    raise first


def pull_server_key_exchange(buf: Buffer, *, kx: str | None = None,
                             version: int | None = None) -> ServerKeyExchange:
    """A ServerKeyExchange of the key exchange family ``kx`` (see :func:`normalize_kx`).

    With ``kx`` None the signed ECDHE, DHE and RSA_EXPORT forms are tried in
    that order, then the anonymous ECDH and DH ones, and a body none of them
    fits is kept in ``unparsed``; with ``version`` None the forms with and
    without the TLS 1.2 signature algorithm are tried; for ``ecdhe``/``dhe``
    the anonymous (unsigned) form is tried last. A family without a
    ServerKeyExchange form parsed here keeps the body in ``unparsed``.
    """
    fam = normalize_kx(kx)
    algs = [True, False] if version is None else [version >= TLS12]

    def signed(params_of: Callable[[Buffer], ServerParams], with_alg: bool,
               hint: bool = False, sig: bool = True) -> Callable[[Buffer], ServerKeyExchange]:
        def form(b: Buffer) -> ServerKeyExchange:
            psk_hint = b.pull_vector(2, "psk_identity_hint") if hint else None
            params = params_of(b)
            if not sig:
                b.expect_eof("server_key_exchange")
                return ServerKeyExchange(params, psk_hint)
            algorithm, signature = _pull_signed(b, with_alg)
            b.expect_eof("server_key_exchange")
            return ServerKeyExchange(params, psk_hint, algorithm, signature)
        return form

    def psk_only(b: Buffer) -> ServerKeyExchange:
        hint = b.pull_vector(2, "psk_identity_hint")
        b.expect_eof("server_key_exchange")
        return ServerKeyExchange(None, hint)

    forms: list[Callable[[Buffer], ServerKeyExchange]]
    # the registry files DH_anon under "dhe" (authentication "anon"): the unsigned
    # form comes last, and only a body that ends right after the params fits it
    if fam in ("ecdhe", "ecdh"):
        forms = [signed(pull_server_ecdh_params, a) for a in algs]
        forms.append(signed(pull_server_ecdh_params, False, sig=False))
    elif fam in ("dhe", "dh"):
        forms = [signed(pull_server_dh_params, a) for a in algs]
        forms.append(signed(pull_server_dh_params, False, sig=False))
    elif fam == "rsa":
        forms = [signed(pull_server_rsa_params, a) for a in algs]
    elif fam == "ecdh_anon":
        forms = [signed(pull_server_ecdh_params, False, sig=False)]
    elif fam == "dh_anon":
        forms = [signed(pull_server_dh_params, False, sig=False)]
    elif fam in ("psk", "rsa_psk"):
        forms = [psk_only]
    elif fam == "dhe_psk":
        forms = [signed(pull_server_dh_params, False, hint=True, sig=False)]
    elif fam == "ecdhe_psk":
        forms = [signed(pull_server_ecdh_params, False, hint=True, sig=False)]
    elif fam is None:
        forms = [signed(p, a) for p in (pull_server_ecdh_params, pull_server_dh_params,
                                        pull_server_rsa_params) for a in algs]
        forms += [signed(pull_server_ecdh_params, False, sig=False),
                  signed(pull_server_dh_params, False, sig=False)]
    else:
        return ServerKeyExchange(None, unparsed=buf.pull_rest("server_key_exchange"))
    body = buf.pull_rest("server_key_exchange")
    if fam is None:  # no form expected: one that does not fit is unknown, not malformed
        try:
            return _first_fit(body, buf.offset - len(body), forms)
        except MalformedError:
            return ServerKeyExchange(None, unparsed=body)
    return _first_fit(body, buf.offset - len(body), forms)


def pull_certificate_request(buf: Buffer, *, version: int | None = None) -> CertificateRequest:
    """TLS ≤ 1.2; with ``version`` None the 1.2 form is tried first, then the 1.0 one."""
    def form(with_algs: bool) -> Callable[[Buffer], CertificateRequest]:
        def pull(b: Buffer) -> CertificateRequest:
            types = b.pull_vector(1, "certificate_types", min_length=1)
            algs = (b.pull_uint16_list(2, "supported_signature_algorithms", min_length=2)
                    if with_algs else None)
            cas = b.pull_list(2, lambda bb: bb.pull_vector(2, "DistinguishedName", min_length=1),
                              "certificate_authorities")
            b.expect_eof("certificate_request")
            return CertificateRequest(types, algs, cas)
        return pull

    choices = [True, False] if version is None else [version >= TLS12]
    body = buf.pull_rest("certificate_request")
    return _first_fit(body, buf.offset - len(body), [form(c) for c in choices])


def pull_certificate_request_tls13(buf: Buffer) -> CertificateRequestTLS13:
    context = buf.pull_vector(1, "certificate_request_context")
    extensions = pull_extensions(buf, "certificate_request")
    buf.expect_eof("certificate_request")
    return CertificateRequestTLS13(context, extensions)


def pull_server_hello_done(buf: Buffer) -> ServerHelloDone:
    _empty(buf, "server_hello_done")
    return ServerHelloDone()


def pull_certificate_verify(buf: Buffer, *, version: int | None = None) -> CertificateVerify:
    """With ``version`` None the TLS 1.2/1.3 form (with algorithm) is tried first."""
    def form(with_alg: bool) -> Callable[[Buffer], CertificateVerify]:
        def pull(b: Buffer) -> CertificateVerify:
            algorithm, signature = _pull_signed(b, with_alg)
            b.expect_eof("certificate_verify")
            return CertificateVerify(algorithm, signature)
        return pull

    choices = [True, False] if version is None else [version >= TLS12]
    body = buf.pull_rest("certificate_verify")
    return _first_fit(body, buf.offset - len(body), [form(c) for c in choices])


def pull_client_key_exchange(buf: Buffer, *, kx: str | None = None,
                             version: int | None = None) -> ClientKeyExchange:
    """A ClientKeyExchange of the family ``kx``.

    With ``kx`` None: a body that is exactly a 1-byte-length vector is read
    as ``ecdh_Yc``; anything else cannot be told apart (RSA and DH both use a
    2-byte length) and is kept in ``unparsed``.
    """
    fam = normalize_kx(kx)
    if fam is None:
        body = buf.pull_rest("client_key_exchange")
        if body and body[0] + 1 == len(body):
            return ClientKeyExchange(ecdh_Yc=body[1:])
        return ClientKeyExchange(unparsed=body)
    psk_identity = None
    if fam in ("psk", "rsa_psk", "dhe_psk", "ecdhe_psk"):
        psk_identity = buf.pull_vector(2, "psk_identity")
    out: ClientKeyExchange
    if fam == "rsa" and version == SSL3:
        # RFC 5246 §7.4.7.1: SSL 3.0 sends the encrypted secret without a length
        out = ClientKeyExchange(encrypted_pre_master_secret=buf.pull_rest(
            "EncryptedPreMasterSecret"), length_prefix=False)
    elif fam in ("rsa", "rsa_psk"):
        out = ClientKeyExchange(encrypted_pre_master_secret=buf.pull_vector(
            2, "EncryptedPreMasterSecret"), psk_identity=psk_identity)
    elif fam in ("dhe", "dh", "dh_anon", "dhe_psk"):
        if buf.eof() and fam != "dhe_psk":  # implicit: the client certificate holds Yc
            out = ClientKeyExchange()
        else:
            out = ClientKeyExchange(dh_Yc=buf.pull_vector(2, "dh_Yc", min_length=1),
                                    psk_identity=psk_identity)
    elif fam in ("ecdhe", "ecdh", "ecdh_anon", "ecdhe_psk"):
        if buf.eof() and fam != "ecdhe_psk":  # RFC 8422 §5.7 implicit
            out = ClientKeyExchange()
        else:
            out = ClientKeyExchange(ecdh_Yc=buf.pull_vector(1, "ecdh_Yc", min_length=1),
                                    psk_identity=psk_identity)
    elif fam == "psk":
        out = ClientKeyExchange(psk_identity=psk_identity)
    else:
        return ClientKeyExchange(unparsed=buf.pull_rest("client_key_exchange"))
    buf.expect_eof("client_key_exchange")
    return out


def pull_finished(buf: Buffer) -> Finished:
    return Finished(buf.pull_rest("verify_data"))


def pull_certificate_status(buf: Buffer) -> CertificateStatus:
    status_type = buf.pull_uint8("status_type")
    if status_type == 1:
        response = buf.pull_vector(3, "OCSPResponse", min_length=1)
        buf.expect_eof("certificate_status")
        return CertificateStatus(status_type, response)
    return CertificateStatus(status_type, buf.pull_rest("response"))


def pull_key_update(buf: Buffer) -> KeyUpdate:
    request_update = buf.pull_uint8("request_update")
    buf.expect_eof("key_update")
    return KeyUpdate(request_update)


def pull_compressed_certificate(buf: Buffer) -> CompressedCertificate:
    algorithm = buf.pull_uint16("algorithm")
    length = buf.pull_uint24("uncompressed_length")
    message = buf.pull_vector(3, "compressed_certificate_message", min_length=1)
    buf.expect_eof("compressed_certificate")
    return CompressedCertificate(algorithm, length, message)


def parse_handshake(msg_type: int, body: bytes, *, version: int | None = None,
                    kx: str | None = None, offset: int = 0) -> Message:
    """Parse one handshake message body (without its 4-byte header).

    ``version`` is the negotiated version (None before the ServerHello or
    when unknown), ``kx`` the key-exchange family of the cipher suite,
    ``offset`` where ``body`` starts (for error offsets). Unknown types
    come back as :class:`UnknownHandshake`. Raises :class:`MalformedError`.
    """
    buf = Buffer(body, offset, complete=True)
    tls13 = is_tls13(version)
    if msg_type == CLIENT_HELLO:
        return pull_client_hello(buf)
    if msg_type == SERVER_HELLO:
        return pull_server_hello(buf)
    if msg_type == CERTIFICATE:
        if version is None:
            return _first_fit(body, offset, [pull_certificate, pull_certificate_tls13])
        return pull_certificate_tls13(buf) if tls13 else pull_certificate(buf)
    if msg_type == SERVER_KEY_EXCHANGE:
        return pull_server_key_exchange(buf, kx=kx, version=version)
    if msg_type == CLIENT_KEY_EXCHANGE:
        return pull_client_key_exchange(buf, kx=kx, version=version)
    if msg_type == NEW_SESSION_TICKET:
        if version is None:
            nst: list[Callable[[Buffer], Message]] = [pull_new_session_ticket,
                                                      pull_new_session_ticket_tls13]
            return _first_fit(body, offset, nst)
        return pull_new_session_ticket_tls13(buf) if tls13 else pull_new_session_ticket(buf)
    if msg_type == CERTIFICATE_REQUEST:
        if tls13:
            return pull_certificate_request_tls13(buf)
        if version is None:
            cr: list[Callable[[Buffer], Message]] = [pull_certificate_request,
                                                     pull_certificate_request_tls13]
            return _first_fit(body, offset, cr)
        return pull_certificate_request(buf, version=version)
    if msg_type == CERTIFICATE_VERIFY:
        return pull_certificate_verify(buf, version=TLS13 if tls13 else version)
    simple: dict[int, Callable[[Buffer], Message]] = {
        HELLO_REQUEST: pull_hello_request,
        HELLO_VERIFY_REQUEST: pull_hello_verify_request,
        END_OF_EARLY_DATA: pull_end_of_early_data,
        ENCRYPTED_EXTENSIONS: pull_encrypted_extensions,
        SERVER_HELLO_DONE: pull_server_hello_done,
        FINISHED: pull_finished,
        CERTIFICATE_STATUS: pull_certificate_status,
        KEY_UPDATE: pull_key_update,
        COMPRESSED_CERTIFICATE: pull_compressed_certificate,
    }
    pull = simple.get(msg_type)
    if pull is None:
        return UnknownHandshake(msg_type, body)
    return pull(buf)


# -- builders --------------------------------------------------------------------------

_TYPES: dict[type, int] = {
    HelloRequest: HELLO_REQUEST, ClientHello: CLIENT_HELLO, ServerHello: SERVER_HELLO,
    HelloVerifyRequest: HELLO_VERIFY_REQUEST, NewSessionTicket: NEW_SESSION_TICKET,
    NewSessionTicketTLS13: NEW_SESSION_TICKET, EndOfEarlyData: END_OF_EARLY_DATA,
    EncryptedExtensions: ENCRYPTED_EXTENSIONS, Certificate: CERTIFICATE,
    ServerKeyExchange: SERVER_KEY_EXCHANGE, CertificateRequest: CERTIFICATE_REQUEST,
    CertificateRequestTLS13: CERTIFICATE_REQUEST, ServerHelloDone: SERVER_HELLO_DONE,
    CertificateVerify: CERTIFICATE_VERIFY, ClientKeyExchange: CLIENT_KEY_EXCHANGE,
    Finished: FINISHED, CertificateStatus: CERTIFICATE_STATUS, KeyUpdate: KEY_UPDATE,
    CompressedCertificate: COMPRESSED_CERTIFICATE,
}


def message_type(msg: Message) -> int:
    """The HandshakeType code of a message."""
    if isinstance(msg, UnknownHandshake):
        return msg.msg_type
    return _TYPES[type(msg)]


def _push_server_params(w: BufferWriter, params: ServerParams) -> None:
    if isinstance(params, ServerECDHParams):
        w.push_uint8(params.curve_type)
        if params.named_group is not None:
            w.push_uint16(params.named_group)
        else:
            w.push_bytes(params.curve_params)
        w.push_vector(1, params.public)
    elif isinstance(params, ServerDHParams):
        w.push_vector(2, params.dh_p)
        w.push_vector(2, params.dh_g)
        w.push_vector(2, params.dh_Ys)
    else:
        w.push_vector(2, params.rsa_modulus)
        w.push_vector(2, params.rsa_exponent)


def _writer_of(push: Callable[[BufferWriter, T], None]) -> Callable[[T], bytes]:
    def build(msg: T) -> bytes:
        w = BufferWriter()
        push(w, msg)
        return w.data()
    build.__doc__ = f"The body bytes of {push.__name__.removeprefix('_push_')} (RFC form)."
    return build


def _push_nothing(w: BufferWriter, msg: HelloRequest | EndOfEarlyData | ServerHelloDone) -> None:
    """HelloRequest, EndOfEarlyData and ServerHelloDone have empty bodies."""


def _push_client_hello(w: BufferWriter, msg: ClientHello) -> None:
    w.push_uint16(msg.legacy_version)
    w.push_bytes(msg.random)
    w.push_vector(1, msg.legacy_session_id)
    w.push_uint16_list(2, msg.cipher_suites)
    w.push_vector(1, msg.legacy_compression_methods)
    if msg.extensions is not None:
        push_extensions(w, msg.extensions)


def _push_server_hello(w: BufferWriter, msg: ServerHello) -> None:
    w.push_uint16(msg.legacy_version)
    w.push_bytes(msg.random)
    if msg.legacy_session_id_echo is not None:
        w.push_vector(1, msg.legacy_session_id_echo)
    w.push_uint16(msg.cipher_suite)
    if msg.legacy_compression_method is not None:
        w.push_uint8(msg.legacy_compression_method)
    if msg.extensions is not None:
        push_extensions(w, msg.extensions)


def _push_hello_verify_request(w: BufferWriter, msg: HelloVerifyRequest) -> None:
    w.push_uint16(msg.server_version)
    w.push_vector(1, msg.cookie)


def _push_new_session_ticket(w: BufferWriter, msg: NewSessionTicket) -> None:
    w.push_uint32(msg.ticket_lifetime_hint)
    w.push_vector(2, msg.ticket)


def _push_new_session_ticket_tls13(w: BufferWriter, msg: NewSessionTicketTLS13) -> None:
    w.push_uint32(msg.ticket_lifetime)
    w.push_uint32(msg.ticket_age_add)
    w.push_vector(1, msg.ticket_nonce)
    w.push_vector(2, msg.ticket)
    push_extensions(w, msg.extensions)


def _push_encrypted_extensions(w: BufferWriter, msg: EncryptedExtensions) -> None:
    push_extensions(w, msg.extensions)


def _push_certificate(w: BufferWriter, msg: Certificate) -> None:
    if msg.certificate_request_context is not None:
        w.push_vector(1, msg.certificate_request_context)
    with w.push_block(3):
        for entry in msg.certificate_list:
            w.push_vector(3, entry.cert_data)
            if entry.extensions is not None:
                push_extensions(w, entry.extensions)


def _push_server_key_exchange(w: BufferWriter, msg: ServerKeyExchange) -> None:
    if msg.unparsed is not None:
        w.push_bytes(msg.unparsed)
        return
    if msg.psk_identity_hint is not None:
        w.push_vector(2, msg.psk_identity_hint)
    if msg.params is not None:
        _push_server_params(w, msg.params)
    if msg.algorithm is not None:
        w.push_uint16(msg.algorithm)
    if msg.signature is not None:
        w.push_vector(2, msg.signature)


def _push_certificate_request(w: BufferWriter, msg: CertificateRequest) -> None:
    w.push_vector(1, msg.certificate_types)
    if msg.supported_signature_algorithms is not None:
        w.push_uint16_list(2, msg.supported_signature_algorithms)
    with w.push_block(2):
        for dn in msg.certificate_authorities:
            w.push_vector(2, dn)


def _push_certificate_request_tls13(w: BufferWriter, msg: CertificateRequestTLS13) -> None:
    w.push_vector(1, msg.certificate_request_context)
    push_extensions(w, msg.extensions)


def _push_certificate_verify(w: BufferWriter, msg: CertificateVerify) -> None:
    if msg.algorithm is not None:
        w.push_uint16(msg.algorithm)
    w.push_vector(2, msg.signature)


def _push_client_key_exchange(w: BufferWriter, msg: ClientKeyExchange) -> None:
    if msg.unparsed is not None:
        w.push_bytes(msg.unparsed)
        return
    if msg.psk_identity is not None:
        w.push_vector(2, msg.psk_identity)
    if msg.encrypted_pre_master_secret is not None:
        if msg.length_prefix:
            w.push_vector(2, msg.encrypted_pre_master_secret)
        else:
            w.push_bytes(msg.encrypted_pre_master_secret)
    elif msg.dh_Yc is not None:
        w.push_vector(2, msg.dh_Yc)
    elif msg.ecdh_Yc is not None:
        w.push_vector(1, msg.ecdh_Yc)


def _push_finished(w: BufferWriter, msg: Finished) -> None:
    w.push_bytes(msg.verify_data)


def _push_certificate_status(w: BufferWriter, msg: CertificateStatus) -> None:
    w.push_uint8(msg.status_type)
    if msg.status_type == 1:
        w.push_vector(3, msg.response)
    else:
        w.push_bytes(msg.response)


def _push_key_update(w: BufferWriter, msg: KeyUpdate) -> None:
    w.push_uint8(msg.request_update)


def _push_compressed_certificate(w: BufferWriter, msg: CompressedCertificate) -> None:
    w.push_uint16(msg.algorithm)
    w.push_uint24(msg.uncompressed_length)
    w.push_vector(3, msg.compressed_certificate_message)


def _push_unknown_handshake(w: BufferWriter, msg: UnknownHandshake) -> None:
    w.push_bytes(msg.body)


build_hello_request = _writer_of(_push_nothing)
build_end_of_early_data = _writer_of(_push_nothing)
build_server_hello_done = _writer_of(_push_nothing)
build_client_hello = _writer_of(_push_client_hello)
build_server_hello = _writer_of(_push_server_hello)
build_hello_verify_request = _writer_of(_push_hello_verify_request)
build_new_session_ticket = _writer_of(_push_new_session_ticket)
build_new_session_ticket_tls13 = _writer_of(_push_new_session_ticket_tls13)
build_encrypted_extensions = _writer_of(_push_encrypted_extensions)
build_certificate = _writer_of(_push_certificate)  # both forms: the dataclass says which
build_server_key_exchange = _writer_of(_push_server_key_exchange)
build_certificate_request = _writer_of(_push_certificate_request)
build_certificate_request_tls13 = _writer_of(_push_certificate_request_tls13)
build_certificate_verify = _writer_of(_push_certificate_verify)
build_client_key_exchange = _writer_of(_push_client_key_exchange)
build_finished = _writer_of(_push_finished)
build_certificate_status = _writer_of(_push_certificate_status)
build_key_update = _writer_of(_push_key_update)
build_compressed_certificate = _writer_of(_push_compressed_certificate)
build_unknown_handshake = _writer_of(_push_unknown_handshake)

_BUILDERS: dict[type, Callable[[Any], bytes]] = {
    HelloRequest: build_hello_request, ClientHello: build_client_hello,
    ServerHello: build_server_hello, HelloVerifyRequest: build_hello_verify_request,
    NewSessionTicket: build_new_session_ticket,
    NewSessionTicketTLS13: build_new_session_ticket_tls13,
    EndOfEarlyData: build_end_of_early_data, EncryptedExtensions: build_encrypted_extensions,
    Certificate: build_certificate, ServerKeyExchange: build_server_key_exchange,
    CertificateRequest: build_certificate_request,
    CertificateRequestTLS13: build_certificate_request_tls13,
    ServerHelloDone: build_server_hello_done, CertificateVerify: build_certificate_verify,
    ClientKeyExchange: build_client_key_exchange, Finished: build_finished,
    CertificateStatus: build_certificate_status, KeyUpdate: build_key_update,
    CompressedCertificate: build_compressed_certificate,
    UnknownHandshake: build_unknown_handshake,
}


def build_handshake_body(msg: Message) -> bytes:
    """The body bytes of any message (the inverse of :func:`parse_handshake`)."""
    return _BUILDERS[type(msg)](msg)


def build_handshake(msg: Message) -> bytes:
    """The whole Handshake: msg_type, uint24 length, body."""
    return build_handshake_header(message_type(msg), build_handshake_body(msg))


# -- SSL 2.0 ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class V2ClientHello:
    """RFC 5246 Appendix E.2 (and SSL 2.0's CLIENT-HELLO): ``cipher_specs`` are 3-byte codes.

    A V2CipherSpec ``0x00XXYY`` is the TLS cipher suite ``0xXXYY``.
    """

    version: int
    cipher_specs: tuple[int, ...]
    session_id: bytes
    challenge: bytes

    @property
    def cipher_suites(self) -> tuple[int, ...]:
        """The specs that name TLS cipher suites (first byte 0)."""
        return tuple(s for s in self.cipher_specs if s >> 16 == 0)


@dataclass(frozen=True, slots=True)
class V2ServerHello:
    """SSL 2.0 SERVER-HELLO."""

    session_id_hit: int
    certificate_type: int
    server_version: int
    certificate: bytes
    cipher_specs: tuple[int, ...]
    connection_id: bytes


@dataclass(frozen=True, slots=True)
class V2ClientMasterKey:
    """SSL 2.0 CLIENT-MASTER-KEY."""

    cipher_kind: int
    clear_key: bytes
    encrypted_key: bytes
    key_arg: bytes


@dataclass(frozen=True, slots=True)
class V2Error:
    """SSL 2.0 ERROR."""

    error_code: int


@dataclass(frozen=True, slots=True)
class UnknownV2Message:
    msg_type: int
    body: bytes


V2Message: TypeAlias = V2ClientHello | V2ServerHello | V2ClientMasterKey | V2Error \
    | UnknownV2Message


def _v2_specs(raw: bytes, at: int) -> tuple[int, ...]:
    if len(raw) % 3:
        raise MalformedError(f"cipher specs length {len(raw)} is not a multiple of 3",
                             offset=at, field="cipher_specs")
    return tuple(int.from_bytes(raw[i:i + 3], "big") for i in range(0, len(raw), 3))


def parse_sslv2(data: bytes, *, offset: int = 0) -> V2Message:
    """An SSL 2.0 message: ``data`` is the record's data (msg_type first)."""
    buf = Buffer(data, offset, complete=True)
    msg_type = buf.pull_uint8("msg_type")
    if msg_type == SSL2_CLIENT_HELLO:
        version = buf.pull_uint16("version")
        n_specs = buf.pull_uint16("cipher_spec_length")
        n_sid = buf.pull_uint16("session_id_length")
        n_chal = buf.pull_uint16("challenge_length")
        at = buf.offset
        specs = _v2_specs(buf.pull_bytes(n_specs, "cipher_specs"), at)
        session_id = buf.pull_bytes(n_sid, "session_id")
        challenge = buf.pull_bytes(n_chal, "challenge")
        buf.expect_eof("client_hello")
        return V2ClientHello(version, specs, session_id, challenge)
    if msg_type == SSL2_SERVER_HELLO:
        hit = buf.pull_uint8("session_id_hit")
        cert_type = buf.pull_uint8("certificate_type")
        version = buf.pull_uint16("server_version")
        n_cert = buf.pull_uint16("certificate_length")
        n_specs = buf.pull_uint16("cipher_specs_length")
        n_cid = buf.pull_uint16("connection_id_length")
        cert = buf.pull_bytes(n_cert, "certificate")
        at = buf.offset
        specs = _v2_specs(buf.pull_bytes(n_specs, "cipher_specs"), at)
        cid = buf.pull_bytes(n_cid, "connection_id")
        buf.expect_eof("server_hello")
        return V2ServerHello(hit, cert_type, version, cert, specs, cid)
    if msg_type == SSL2_CLIENT_MASTER_KEY:
        kind = buf.pull_uint24("cipher_kind")
        n_clear = buf.pull_uint16("clear_key_length")
        n_enc = buf.pull_uint16("encrypted_key_length")
        n_arg = buf.pull_uint16("key_arg_length")
        clear = buf.pull_bytes(n_clear, "clear_key")
        enc = buf.pull_bytes(n_enc, "encrypted_key")
        arg = buf.pull_bytes(n_arg, "key_arg")
        buf.expect_eof("client_master_key")
        return V2ClientMasterKey(kind, clear, enc, arg)
    if msg_type == SSL2_ERROR:
        code = buf.pull_uint16("error_code")
        buf.expect_eof("error")
        return V2Error(code)
    return UnknownV2Message(msg_type, buf.pull_rest("body"))


def build_sslv2(msg: V2Message) -> bytes:
    """The record data of an SSL 2.0 message (msg_type first)."""
    w = BufferWriter()
    if isinstance(msg, V2ClientHello):
        w.push_uint8(SSL2_CLIENT_HELLO)
        w.push_uint16(msg.version)
        w.push_uint16(3 * len(msg.cipher_specs))
        w.push_uint16(len(msg.session_id))
        w.push_uint16(len(msg.challenge))
        for spec in msg.cipher_specs:
            w.push_uint24(spec)
        w.push_bytes(msg.session_id)
        w.push_bytes(msg.challenge)
    elif isinstance(msg, V2ServerHello):
        w.push_uint8(SSL2_SERVER_HELLO)
        w.push_uint8(msg.session_id_hit)
        w.push_uint8(msg.certificate_type)
        w.push_uint16(msg.server_version)
        w.push_uint16(len(msg.certificate))
        w.push_uint16(3 * len(msg.cipher_specs))
        w.push_uint16(len(msg.connection_id))
        w.push_bytes(msg.certificate)
        for spec in msg.cipher_specs:
            w.push_uint24(spec)
        w.push_bytes(msg.connection_id)
    elif isinstance(msg, V2ClientMasterKey):
        w.push_uint8(SSL2_CLIENT_MASTER_KEY)
        w.push_uint24(msg.cipher_kind)
        w.push_uint16(len(msg.clear_key))
        w.push_uint16(len(msg.encrypted_key))
        w.push_uint16(len(msg.key_arg))
        w.push_bytes(msg.clear_key + msg.encrypted_key + msg.key_arg)
    elif isinstance(msg, V2Error):
        w.push_uint8(SSL2_ERROR)
        w.push_uint16(msg.error_code)
    else:
        w.push_uint8(msg.msg_type)
        w.push_bytes(msg.body)
    return w.data()
