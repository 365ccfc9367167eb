"""X.509 certificates as a TLS client sees them: parse, then check the chain.

Theory of operation: ``parse_certificate`` turns one DER certificate (as it
travels in a TLS Certificate message) into a frozen ``CertInfo`` with the
facts a learner looks at: who it names, who signed it, for which host names,
with what key, and when it is valid. ``verify_chain`` redoes, offline, the
check a client makes when the server's chain arrives, judged at the packet's
own time (STYLE §2), and reports each step separately so that the reason for
a failure can be shown:

1. ``order``: each certificate is followed by the one that issued it
   (RFC 5246 §7.4.2; RFC 8446 §4.4.2 asks the same of TLS 1.3 senders);
2. ``signatures``: each certificate's signature verifies with its issuer's
   public key (RFC 5280 §6.1.3 (a)(1));
3. ``validity``: every certificate is within notBefore..notAfter at the
   packet's time (RFC 5280 §4.1.2.5);
4. ``hostname``: the server name (SNI) matches the leaf's subjectAltName
   (RFC 6125 §6.4, wildcard rules of §6.4.3, as narrowed by RFC 9525);
5. ``trust_anchor``: the chain ends in, or is signed by, a CA in the trust
   store (the system's bundle and/or a given CA file);
6. ``path_validation``: the whole RFC 5280 path validation with the Web PKI
   profile, by ``cryptography.x509.verification`` (the library's verdict, as
   a second opinion on steps 1-5 plus the extension rules).

The only I/O is reading the CA bundle (``_read_ca_file``), cached per path:
it is key material, like the key files of ``tls/keys.py``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import (
    dsa,
    ec,
    ed448,
    ed25519,
    padding,
    rsa,
    x448,
    x25519,
)
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from handshaker.errors import MalformedError

__all__ = [
    "SYSTEM_CA_FILE",
    "CertInfo",
    "Check",
    "Verification",
    "parse_certificate",
    "verify_chain",
]

SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's ca-certificates bundle

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Signature algorithm OIDs, named as OpenSSL prints them (its long names).
# RFC 3279 §2.2, RFC 4055 §5, RFC 5758 §3, RFC 8410 §3.
_SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "rsassaPss",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.10040.4.3": "dsaWithSHA1",
    "2.16.840.1.101.3.4.3.1": "dsa_with_SHA224",
    "2.16.840.1.101.3.4.3.2": "dsa_with_SHA256",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}


# RFC 4514 names only a few attributes; for the rest, the names OpenSSL
# prints (its short names), so that "emailAddress=..." does not turn into
# "1.2.840.113549.1.9.1=...".
_ATTR_NAMES = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.TITLE: "title",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.INITIALS: "initials",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
}


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What one certificate says.

    ``subject`` and ``issuer`` are RFC 4514 strings (most specific attribute
    first, as ``cryptography`` writes them); ``subject_cn`` / ``issuer_cn``
    the first commonName, or None. ``san_dns`` and ``san_ips`` come from the
    subjectAltName extension, in order. ``key`` reads like ``"RSA 2048"``,
    ``"EC secp256r1"`` or ``"Ed25519"``. ``not_before`` / ``not_after`` are
    integer nanoseconds since the Unix epoch (UTC). ``sha256`` is the
    fingerprint of the DER bytes, lower-case hex. ``self_signed`` means the
    subject is the issuer and the certificate's own key verifies its
    signature.
    """

    subject: str
    subject_cn: str | None
    issuer: str
    issuer_cn: str | None
    san_dns: tuple[str, ...]
    san_ips: tuple[str, ...]
    key: str
    signature_algorithm: str
    serial: int
    not_before: int
    not_after: int
    sha256: str
    is_ca: bool
    self_signed: bool
    version: int

    @property
    def label(self) -> str:
        """A short name for messages: the CN, or the whole subject."""
        return self.subject_cn or self.subject or "(empty subject)"


@dataclass(frozen=True, slots=True)
class Check:
    """One step of the chain check: its name, the verdict and why."""

    name: str
    ok: bool
    reason: str
    reason_zh: str = ""


def _check(name: str, ok: bool, key: str, **kw: object) -> Check:
    """A step whose reason is the catalogue's ``key`` (explain/i18n.py, CERT_CHECKS)."""
    from handshaker.explain.i18n import cert_text

    return Check(name, ok, cert_text(key, "en", **kw), cert_text(key, "zh", **kw))


@dataclass(frozen=True, slots=True)
class Verification:
    """The client's certificate check, step by step (see the module doc)."""

    ok: bool
    checks: list[Check] = field(default_factory=list)
    summary: str = ""
    summary_zh: str = ""

    def check(self, name: str) -> Check | None:
        """The step with this name, if it ran."""
        return next((c for c in self.checks if c.name == name), None)


# ------------------------------------------------------------------ parsing


def _ns(dt: datetime) -> int:
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _when(ns: int) -> str:
    dt = _EPOCH + timedelta(microseconds=ns // 1000)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def _first_cn(name: x509.Name) -> str | None:
    for attr in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attr.value
        return value if isinstance(value, str) else value.hex()
    return None


def _key_description(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return f"unknown ({cert.public_key_algorithm_oid.dotted_string})"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    for kind, label in ((ed25519.Ed25519PublicKey, "Ed25519"), (ed448.Ed448PublicKey, "Ed448"),
                        (x25519.X25519PublicKey, "X25519"), (x448.X448PublicKey, "X448")):
        if isinstance(key, kind):
            return label
    return f"unknown ({cert.public_key_algorithm_oid.dotted_string})"


def _verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise InvalidSignature unless ``issuer``'s key signed ``cert``.

    Done by hand rather than with ``verify_directly_issued_by``, which
    refuses SHA-1 signatures: old chains (and the corpus) are full of them,
    and a learner should see "valid signature, weak hash", not an error.
    """
    key = issuer.public_key()
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    params = cert.signature_algorithm_parameters
    if isinstance(key, rsa.RSAPublicKey):
        hash_alg = cert.signature_hash_algorithm
        if not isinstance(params, padding.PSS | padding.PKCS1v15) or hash_alg is None:
            raise InvalidSignature("not an RSA signature")
        key.verify(sig, tbs, params, hash_alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(params, ec.ECDSA):
            raise InvalidSignature("not an ECDSA signature")
        key.verify(sig, tbs, params)
    elif isinstance(key, dsa.DSAPublicKey):
        hash_alg = cert.signature_hash_algorithm
        if hash_alg is None:
            raise InvalidSignature("not a DSA signature")
        key.verify(sig, tbs, hash_alg)
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        key.verify(sig, tbs)
    else:
        raise UnsupportedAlgorithm(f"cannot check signatures made with {_key_description(issuer)}")


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        _verify_signature(cert, issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


# What cryptography raises for bytes that are not a good certificate; some
# parts (names, extensions, the version) are only decoded when first used.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, x509.InvalidVersion, x509.DuplicateExtension,
                  x509.UnsupportedGeneralNameType, UnsupportedAlgorithm)


#: a certificate longer than this is named and not parsed (real ones are a few KB; the
#: largest in the corpus, Zeek's test certificate with 10,000 names, is 339,623 bytes)
MAX_CERTIFICATE_BYTES = 524_288


def _load(der: bytes) -> x509.Certificate:
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise MalformedError(f"certificate of {len(der)} bytes is longer than "
                             f"MAX_CERTIFICATE_BYTES ({MAX_CERTIFICATE_BYTES}): not parsed",
                             field="certificate")
    try:
        with warnings.catch_warnings():
            # A zero or negative serial (RFC 5280 §4.1.2.2 forbids them, old CAs
            # issued them): cryptography warns; we show the serial as it is.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(bytes(der))
    except _DECODE_ERRORS as err:
        raise MalformedError(f"certificate does not parse: {err}", field="certificate") from err


def _serial(cert: x509.Certificate) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return cert.serial_number


def _info(cert: x509.Certificate, der: bytes) -> CertInfo:
    # cryptography warns (on standard error, as Python warnings) about what hostile or
    # old certificates hold: a zero serial, a country name of 15 letters. The values
    # are shown as they are; the warnings would only be noise from packet data.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return _info_quiet(cert, der)


def _info_quiet(cert: x509.Certificate, der: bytes) -> CertInfo:
    try:
        san_dns: tuple[str, ...] = ()
        san_ips: tuple[str, ...] = ()
        is_ca = False
        for ext in cert.extensions:
            value = ext.value
            if isinstance(value, x509.SubjectAlternativeName):
                san_dns = tuple(value.get_values_for_type(x509.DNSName))
                san_ips = tuple(str(ip) for ip in value.get_values_for_type(x509.IPAddress))
            elif isinstance(value, x509.BasicConstraints):
                is_ca = value.ca
        oid = cert.signature_algorithm_oid.dotted_string
        return CertInfo(
            subject=cert.subject.rfc4514_string(_ATTR_NAMES),
            subject_cn=_first_cn(cert.subject),
            issuer=cert.issuer.rfc4514_string(_ATTR_NAMES),
            issuer_cn=_first_cn(cert.issuer),
            san_dns=san_dns,
            san_ips=san_ips,
            key=_key_description(cert),
            signature_algorithm=_SIGNATURE_ALGORITHMS.get(oid, oid),
            serial=_serial(cert),
            not_before=_ns(cert.not_valid_before_utc),
            not_after=_ns(cert.not_valid_after_utc),
            sha256=hashlib.sha256(der).hexdigest(),
            is_ca=is_ca,
            self_signed=cert.subject == cert.issuer and _signed_by(cert, cert),
            version=cert.version.value + 1,
        )
    except _DECODE_ERRORS as err:
        raise MalformedError(f"certificate does not parse: {err}", field="certificate") from err


def parse_certificate(der: bytes) -> CertInfo:
    """Parse one DER certificate; damage raises ``MalformedError`` with the reason."""
    der = bytes(der)
    return _info(_load(der), der)


# ---------------------------------------------------------------- the store


@dataclass(frozen=True, slots=True, eq=False)
class _TrustStore:
    """The trusted CAs, indexed once per set of files."""

    sources: tuple[str, ...]
    certs: tuple[x509.Certificate, ...]
    problems: tuple[str, ...]
    by_subject: dict[x509.Name, list[x509.Certificate]]
    fingerprints: frozenset[bytes]
    store: Store | None


@cache
def _read_ca_file(path: str) -> tuple[x509.Certificate, ...]:
    """Every certificate in a PEM bundle (or one DER certificate). The only I/O here."""
    with open(path, "rb") as f:
        data = f.read()
    with warnings.catch_warnings():
        # Some deployed roots have a non-positive serial; they are still roots.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if b"-----BEGIN" in data:
            return tuple(x509.load_pem_x509_certificates(data))
        return (x509.load_der_x509_certificate(data),)


@cache
def _trust_store(paths: tuple[str, ...]) -> _TrustStore:
    certs: list[x509.Certificate] = []
    problems: list[str] = []
    for path in paths:
        try:
            certs.extend(_read_ca_file(path))
        except (OSError, ValueError) as err:
            problems.append(f"cannot read {path}: {err}")
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in certs:
        by_subject.setdefault(cert.subject, []).append(cert)
    return _TrustStore(
        sources=paths,
        certs=tuple(certs),
        problems=tuple(problems),
        by_subject=by_subject,
        fingerprints=frozenset(c.fingerprint(hashes.SHA256()) for c in certs),
        store=Store(certs) if certs else None,
    )


# ------------------------------------------------------------------- checks


def _dns_matches(pattern: str, host: str) -> bool:
    """RFC 6125 §6.4.3 as browsers apply it (and RFC 9525 §6.3 keeps).

    A wildcard may only be the whole left-most label, stands for exactly one
    label, and needs at least two labels after it ("*.com" matches nothing).
    """
    pattern = pattern.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False
    suffix = pattern[2:]
    if "*" in suffix or suffix.count(".") < 1:
        return False
    first, dot, rest = host.partition(".")
    return bool(first) and bool(dot) and rest == suffix


def _hostname_check(leaf: CertInfo, server_name: str | None) -> Check:
    if server_name is None:
        return _check("hostname", True, "h_no_sni")
    host = server_name.strip().lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        # RFC 6125 §1.7.2 / RFC 5280 §4.2.1.6: an address must be an iPAddress SAN.
        if str(ip) in {str(ipaddress.ip_address(a)) for a in leaf.san_ips}:
            return _check("hostname", True, "h_ip_ok", host=server_name)
        have = ", ".join(leaf.san_ips) or "-"
        return _check("hostname", False, "h_ip_bad", host=server_name, have=have)
    if not leaf.san_dns:
        # RFC 9525 §6.3 dropped the commonName fallback of RFC 6125 §6.4.4.
        return _check("hostname", False, "h_no_dns", host=server_name, cn=leaf.subject_cn)
    for pattern in leaf.san_dns:
        if _dns_matches(pattern, host):
            return _check("hostname", True, "h_ok_wild" if pattern.startswith("*") else "h_ok",
                          host=server_name, pattern=repr(pattern))
    shown = ", ".join(leaf.san_dns[:5]) + (f", ... ({len(leaf.san_dns)} names)"
                                           if len(leaf.san_dns) > 5 else "")
    check = _check("hostname", False, "h_bad", host=server_name, shown=shown)
    if any(p.startswith("*.") for p in leaf.san_dns):
        from handshaker.explain.i18n import cert_text

        check = Check(check.name, False, check.reason + cert_text("h_wild_hint", "en"),
                      check.reason_zh + cert_text("h_wild_hint", "zh"))
    return check


def _order_check(infos: Sequence[CertInfo], certs: Sequence[x509.Certificate]) -> Check:
    if len(certs) == 1:
        return _check("order", True, "o_one")
    for i in range(len(certs) - 1):
        if certs[i].issuer == certs[i + 1].subject:
            continue
        elsewhere = [j for j, c in enumerate(certs) if j != i and c.subject == certs[i].issuer]
        if elsewhere:
            return _check("order", False, "o_swapped", i=i + 1, label=repr(infos[i].label),
                          j=elsewhere[0] + 1, jlabel=repr(infos[elsewhere[0]].label),
                          k=i + 2, klabel=repr(infos[i + 1].label))
        return _check("order", False, "o_issuer", i=i + 1, label=repr(infos[i].label),
                      issuer=repr(infos[i].issuer), next=repr(infos[i + 1].subject))
    return _check("order", True, "o_ok", chain=" <- ".join(repr(i.label) for i in infos))


def _signature_check(infos: Sequence[CertInfo], certs: Sequence[x509.Certificate]) -> Check:
    checked = 0
    for i, cert in enumerate(certs):
        issuers = [j for j, c in enumerate(certs) if c.subject == cert.issuer]
        if not issuers or issuers == [i]:
            continue  # issued from outside the chain (or self-signed): the anchor check's job
        j = next((k for k in issuers if k != i), issuers[0])
        try:
            _verify_signature(cert, certs[j])
        except InvalidSignature:
            return _check("signatures", False, "s_bad", i=i + 1, label=repr(infos[i].label),
                          j=j + 1, jlabel=repr(infos[j].label))
        except (ValueError, TypeError, UnsupportedAlgorithm) as err:
            return _check("signatures", False, "s_err", i=i + 1, label=repr(infos[i].label),
                          j=j + 1, err=err)
        checked += 1
    if checked == 0:
        return _check("signatures", True, "s_none")
    return _check("signatures", True, "s_ok", n=checked)


def _validity_check(infos: Sequence[CertInfo], at_ns: int) -> Check:
    for i, info in enumerate(infos):
        if at_ns > info.not_after:
            return _check("validity", False, "v_expired", i=i + 1, label=repr(info.label),
                          until=_when(info.not_after), when=_when(at_ns))
        if at_ns < info.not_before:
            return _check("validity", False, "v_early", i=i + 1, label=repr(info.label),
                          since=_when(info.not_before), when=_when(at_ns))
    first_end = min(infos, key=lambda c: c.not_after)
    return _check("validity", True, "v_ok", n=len(infos), when=_when(at_ns),
                  label=repr(first_end.label), until=_when(first_end.not_after))


def _anchor_check(infos: Sequence[CertInfo], certs: Sequence[x509.Certificate],
                  ts: _TrustStore) -> Check:
    where = ", ".join(ts.sources) or "no trust store"
    if not ts.certs:
        why = "; ".join(ts.problems) or "no CA file given and the system store is off"
        return _check("trust_anchor", False, "a_no_store", why=why)
    last, last_info = certs[-1], infos[-1]
    if last.fingerprint(hashes.SHA256()) in ts.fingerprints:
        return _check("trust_anchor", True, "a_in_store", label=repr(last_info.label),
                      where=where)
    for ca in ts.by_subject.get(last.issuer, []):
        if _signed_by(last, ca):
            ca_name = _first_cn(ca.subject) or ca.subject.rfc4514_string(_ATTR_NAMES)
            return _check("trust_anchor", True, "a_signed", label=repr(last_info.label),
                          ca=repr(ca_name), where=where)
    if last_info.self_signed or last.subject == last.issuer:
        return _check("trust_anchor", False, "a_self", label=repr(last_info.label),
                      where=where)
    return _check("trust_anchor", False, "a_unknown", label=repr(last_info.label),
                  issuer=repr(last_info.issuer), where=where)


def _path_check(certs: Sequence[x509.Certificate], at_ns: int, server_name: str | None,
                ts: _TrustStore) -> Check:
    if server_name is None:
        return _check("path_validation", True, "p_no_sni")
    store = ts.store
    if store is None:
        return _check("path_validation", False, "p_no_store")
    host = server_name.strip().rstrip(".")
    when = _EPOCH + timedelta(microseconds=at_ns // 1000)
    try:
        subject: x509.DNSName | x509.IPAddress
        try:
            subject = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            subject = x509.DNSName(host)  # raises for names that are not A-labels
        verifier = PolicyBuilder().store(store).time(when).build_server_verifier(subject)
        path = verifier.verify(certs[0], list(certs[1:]))
    except (VerificationError, ValueError) as err:
        return _check("path_validation", False, "p_bad", err=err)
    return _check("path_validation", True, "p_ok", n=len(path))


def _result(checks: list[Check]) -> Verification:
    from handshaker.explain.i18n import cert_text

    failed = [c for c in checks if not c.ok]
    if not failed:
        ok = "; ".join(f"{c.name} ok" for c in checks)
        return Verification(True, checks, cert_text("summary_ok", "en", checks=ok),
                            cert_text("summary_ok", "zh", checks=ok))
    out = []
    for lang, reason in (("en", failed[0].reason), ("zh", failed[0].reason_zh or
                                                     failed[0].reason)):
        text = cert_text("summary_bad", lang, step=failed[0].name, reason=reason)
        if len(failed) > 1:
            text += cert_text("summary_more", lang, n=len(failed) - 1)
        out.append(text)
    return Verification(False, checks, out[0], out[1])


def verify_chain(chain: Sequence[bytes], *, at_ns: int, server_name: str | None,
                 ca_file: str | None = None, system_store: bool = True) -> Verification:
    """Redo the client's check of a server's chain (leaf first) at time ``at_ns``.

    Trusted CAs come from the system bundle (``SYSTEM_CA_FILE``) when
    ``system_store`` is set, and from ``ca_file`` (PEM bundle or one DER
    certificate). Never raises for bad input: a certificate that does not
    parse fails the ``parse`` step.
    """
    if not chain:
        return _result([_check("parse", False, "parse_none")])
    certs: list[x509.Certificate] = []
    infos: list[CertInfo] = []
    for i, der in enumerate(chain):
        try:
            cert = _load(der)
            infos.append(_info(cert, bytes(der)))
        except MalformedError as err:
            return _result([_check("parse", False, "parse_bad", i=i + 1, err=err.reason)])
        certs.append(cert)
    paths: list[str] = []
    if system_store:
        paths.append(SYSTEM_CA_FILE)
    if ca_file is not None:
        paths.append(ca_file)
    ts = _trust_store(tuple(paths))
    checks = [
        _order_check(infos, certs),
        _signature_check(infos, certs),
        _validity_check(infos, at_ns),
        _hostname_check(infos[0], server_name),
        _anchor_check(infos, certs, ts),
        _path_check(certs, at_ns, server_name, ts),
    ]
    return _result(checks)

