"""Certificates: parsing against openssl and tshark, and the chain check on
throwaway PKIs made here (root -> intermediate -> leaf, RSA and ECDSA).

Every broken chain must fail the right step with a reason that says why.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_captures, require, tshark_fields
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from handshaker.errors import MalformedError
from handshaker.tls.certs import (
    SYSTEM_CA_FILE,
    CertInfo,
    Verification,
    parse_certificate,
    verify_chain,
)

UTC = timezone.utc
T0 = datetime(2025, 1, 1, tzinfo=UTC)  # every test certificate is valid for 2025
END = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # "the packet's time"
CHECKS = ["order", "signatures", "validity", "hostname", "trust_anchor", "path_validation"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def ns(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000_000


# ------------------------------------------------------------ a small PKI


@cache
def key(kind: str, role: str) -> PrivateKey:
    """One key per (algorithm, role), made once: RSA key generation is slow."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP384R1() if role == "intermediate" else ec.SECP256R1())


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "handshaker tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject: str, issuer: str, public_key: object, signing_key: PrivateKey, *,
              ca: bool, sans: Sequence[str] = (), not_before: datetime = T0,
              not_after: datetime = END, issuer_public_key: object = None) -> x509.Certificate:
    """A certificate with the extensions the Web PKI profile asks for."""
    issuer_public = issuer_public_key or signing_key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(public_key)  # type: ignore[arg-type]
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                   public_key), critical=False)  # type: ignore[arg-type]
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_public), critical=False))  # type: ignore[arg-type]
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                        critical=False)
    if sans:
        general: list[x509.GeneralName] = []
        for san in sans:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                general.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    digest = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signing_key, digest)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class PKI:
    root: x509.Certificate
    intermediate: x509.Certificate
    kind: str

    def leaf(self, sans: Sequence[str] = ("www.example.test", "example.test", "192.0.2.10"),
             **kw: datetime) -> x509.Certificate:
        return make_cert("www.example.test", "Test Intermediate CA",
                         key(self.kind, "leaf").public_key(), key(self.kind, "intermediate"),
                         ca=False, sans=sans, **kw)

    def chain(self, leaf: x509.Certificate | None = None) -> list[bytes]:
        return [der(leaf or self.leaf()), der(self.intermediate)]


@cache
def pki(kind: str) -> PKI:
    root_key, inter_key = key(kind, "root"), key(kind, "intermediate")
    root = make_cert("Test Root CA", "Test Root CA", root_key.public_key(), root_key, ca=True)
    inter = make_cert("Test Intermediate CA", "Test Root CA", inter_key.public_key(), root_key,
                      ca=True)
    return PKI(root, inter, kind)


@pytest.fixture(params=["rsa", "ecdsa"])
def ca(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[PKI, str]:
    """A PKI and a CA file holding its root (PEM)."""
    p = pki(request.param)
    path = tmp_path / "root.pem"
    path.write_bytes(p.root.public_bytes(serialization.Encoding.PEM))
    return p, str(path)


def run(chain: list[bytes], ca_file: str | None, *, at: datetime = AT,
        server_name: str | None = "www.example.test", system: bool = False) -> Verification:
    return verify_chain(chain, at_ns=ns(at), server_name=server_name, ca_file=ca_file,
                        system_store=system)


def failed(v: Verification) -> list[str]:
    return [c.name for c in v.checks if not c.ok]


def reason(v: Verification, step: str) -> str:
    check = v.check(step)
    assert check is not None, step
    return check.reason


# ------------------------------------------------------------ the checks


def test_good_chain_passes_every_check(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run(p.chain(), ca_file)
    assert [c.name for c in v.checks] == CHECKS
    assert v.ok, v.summary
    assert failed(v) == []
    assert "\n" not in v.summary and v.summary.startswith("certificate chain accepted")
    assert "www.example.test" in reason(v, "hostname")
    assert "Test Root CA" in reason(v, "trust_anchor")


def test_good_chain_with_root_included_and_system_store(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run([*p.chain(), der(p.root)], ca_file, system=True)
    assert v.ok, v.summary
    assert "in the trust store" in reason(v, "trust_anchor")


def test_expired_leaf(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    leaf = p.leaf(not_after=datetime(2025, 3, 1, tzinfo=UTC))
    v = run(p.chain(leaf), ca_file)
    assert not v.ok
    assert "validity" in failed(v) and "order" not in failed(v) and "signatures" not in failed(v)
    assert "expired on 2025-03-01 00:00:00 UTC" in reason(v, "validity")
    assert "2025-06-01 12:00:00 UTC" in reason(v, "validity")
    assert v.summary.startswith("certificate chain rejected: validity:")


def test_not_yet_valid_leaf(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    leaf = p.leaf(not_before=datetime(2025, 9, 1, tzinfo=UTC))
    v = run(p.chain(leaf), ca_file)
    assert "validity" in failed(v)
    assert "not valid before 2025-09-01 00:00:00 UTC" in reason(v, "validity")


def test_validity_is_judged_at_the_packet_time(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    assert run(p.chain(), ca_file, at=datetime(2025, 12, 31, tzinfo=UTC)).ok
    late = run(p.chain(), ca_file, at=datetime(2026, 1, 2, tzinfo=UTC))
    assert "validity" in failed(late) and "expired" in reason(late, "validity")


def test_wrong_name(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run(p.chain(), ca_file, server_name="mail.example.test")
    assert failed(v) == ["hostname", "path_validation"]
    assert "matches none of the leaf's names" in reason(v, "hostname")
    assert "www.example.test" in reason(v, "hostname")


@pytest.mark.parametrize(("sni", "ok"), [
    ("a.example.test", True),
    ("WWW.Example.Test.", True),   # case and a trailing dot do not matter
    ("a.b.example.test", False),  # the wildcard stands for one label only
    ("example.test", False),      # ... and not for none
    ("a.example.testx", False),
])
def test_wildcard(ca: tuple[PKI, str], sni: str, ok: bool) -> None:
    p, ca_file = ca
    leaf = p.leaf(sans=("*.example.test",))
    v = run(p.chain(leaf), ca_file, server_name=sni)
    check = v.check("hostname")
    assert check is not None and check.ok is ok, check
    if ok:
        assert "wildcard" in check.reason and v.ok, v.summary
    else:
        assert "exactly one left-most label" in check.reason


def test_wildcard_rules() -> None:
    p = pki("ecdsa")
    for sans, sni in [(("*.test",), "example.test"), (("w*.example.test",), "www.example.test"),
                      (("*.*.test",), "a.b.test")]:
        v = run(p.chain(p.leaf(sans=sans)), None, server_name=sni)
        assert "hostname" in failed(v), (sans, sni)


def test_ip_address_names(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    good = run(p.chain(), ca_file, server_name="192.0.2.10")
    assert good.ok, good.summary
    bad = run(p.chain(), ca_file, server_name="192.0.2.11")
    assert "hostname" in failed(bad) and "192.0.2.10" in reason(bad, "hostname")


def test_no_sni_skips_the_name_checks(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run(p.chain(), ca_file, server_name=None)
    assert v.ok
    assert reason(v, "hostname").startswith("not checked")


def test_self_signed_leaf(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    k = key(p.kind, "leaf")
    selfie = make_cert("www.example.test", "www.example.test", k.public_key(), k, ca=False,
                       sans=("www.example.test",))
    v = run([der(selfie)], ca_file)
    assert "trust_anchor" in failed(v) and "validity" not in failed(v)
    assert "self-signed" in reason(v, "trust_anchor")
    assert parse_certificate(der(selfie)).self_signed


def test_missing_intermediate(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run([der(p.leaf())], ca_file)
    assert failed(v) == ["trust_anchor", "path_validation"]
    assert "missing intermediate" in reason(v, "trust_anchor")
    assert "Test Intermediate CA" in reason(v, "trust_anchor")


def test_unknown_issuer_without_ca_file(ca: tuple[PKI, str]) -> None:
    p, _ = ca
    v = run(p.chain(), None, system=True)  # our test root is in no system store
    assert "trust_anchor" in failed(v)
    assert SYSTEM_CA_FILE in reason(v, "trust_anchor") or "cannot read" in reason(
        v, "trust_anchor")


def test_no_trust_store_at_all(ca: tuple[PKI, str], tmp_path: Path) -> None:
    p, _ = ca
    v = run(p.chain(), str(tmp_path / "missing.pem"))
    assert "no trusted CAs" in reason(v, "trust_anchor")
    assert "missing.pem" in reason(v, "trust_anchor")


def test_broken_signature(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    # Names the intermediate as issuer, but the root's key signed it.
    forged = make_cert("www.example.test", "Test Intermediate CA",
                       key(p.kind, "leaf").public_key(), key(p.kind, "root"), ca=False,
                       sans=("www.example.test",),
                       issuer_public_key=key(p.kind, "intermediate").public_key())
    v = run(p.chain(forged), ca_file)
    assert "signatures" in failed(v) and "order" not in failed(v)
    assert "does not verify with the public key of its issuer" in reason(v, "signatures")
    assert v.summary.startswith("certificate chain rejected: signatures:")


def test_chain_out_of_order(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run([der(p.leaf()), der(p.root), der(p.intermediate)], ca_file)
    assert "order" in failed(v) and "signatures" not in failed(v)
    assert "out of order" in reason(v, "order")
    assert v.summary.startswith("certificate chain rejected: order:")


def test_unparseable_certificate_in_chain(ca: tuple[PKI, str]) -> None:
    p, ca_file = ca
    v = run([p.chain()[0], b"\x30\x03\x02\x01"], ca_file)
    assert not v.ok and failed(v) == ["parse"]
    assert reason(v, "parse").startswith("certificate 2: certificate does not parse")
    empty = run([], ca_file)
    assert failed(empty) == ["parse"] and "no certificate" in empty.summary


# ------------------------------------------------------------ parsing


def test_parse_fields() -> None:
    p = pki("rsa")
    leaf = p.leaf()
    info = parse_certificate(der(leaf))
    assert info.subject == "CN=www.example.test,O=handshaker tests"
    assert info.subject_cn == "www.example.test" and info.issuer_cn == "Test Intermediate CA"
    assert info.issuer == "CN=Test Intermediate CA,O=handshaker tests"
    assert info.san_dns == ("www.example.test", "example.test")
    assert info.san_ips == ("192.0.2.10",)
    assert info.key == "RSA 2048"
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    assert info.serial == leaf.serial_number
    assert info.not_before == ns(T0) and info.not_after == ns(END)
    assert info.sha256 == hashlib.sha256(der(leaf)).hexdigest()
    assert not info.is_ca and not info.self_signed and info.version == 3
    root = parse_certificate(der(p.root))
    assert root.is_ca and root.self_signed
    e = pki("ecdsa")
    assert parse_certificate(der(e.leaf())).key == "EC secp256r1"
    assert parse_certificate(der(e.intermediate)).key == "EC secp384r1"
    assert parse_certificate(der(e.leaf())).signature_algorithm == "ecdsa-with-SHA256"
    ed = key("ed25519", "root")
    edc = make_cert("ed", "ed", ed.public_key(), ed, ca=True)
    info = parse_certificate(der(edc))
    assert (info.key, info.signature_algorithm, info.self_signed) == ("Ed25519", "Ed25519", True)


@pytest.mark.parametrize("damage", [
    b"",
    b"not a certificate",
    b"\x30\x82\x01\x00",           # a SEQUENCE header and nothing after it
])
def test_malformed_certificates(damage: bytes) -> None:
    with pytest.raises(MalformedError, match="certificate does not parse"):
        parse_certificate(damage)


def test_damaged_certificates_raise_only_handshaker_errors() -> None:
    """Every truncation and every flipped byte: a CertInfo or a MalformedError."""
    good = der(pki("ecdsa").leaf())
    damaged = [good[:cut] for cut in range(len(good))]
    for i in range(len(good)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = bytearray(good)
            flipped[i] ^= mask
            damaged.append(bytes(flipped))
    rejected = 0
    for data in damaged:
        try:
            parse_certificate(data)
        except MalformedError as err:
            assert err.reason.startswith("certificate does not parse")
            rejected += 1
    assert rejected > len(good)
    v = verify_chain([damaged[-1], good], at_ns=ns(AT), server_name="www.example.test")
    assert not v.ok


# ------------------------------------------------------------ the corpus


def _may_hold_certificates(path: Path) -> bool:
    """Skip tshark on captures whose bytes hold no commonName OID (2.5.4.3)."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return b"\x06\x03\x55\x04\x03" in data or path.suffix == ".pcapng"


@cache
def corpus_certificates() -> dict[bytes, str]:
    """DER -> the capture it came from, every certificate tshark finds."""
    require(shutil.which("tshark") is not None, "tshark is not installed")

    def certs(path: Path) -> list[bytes]:
        rows = tshark_fields(path, ["tls.handshake.certificate"],
                             display_filter="tls.handshake.type == 11")
        return [bytes.fromhex(h.replace(":", "")) for row in rows for h in row[0].split(",") if h]

    paths = [p for p in corpus_captures() if _may_hold_certificates(p)]
    found: dict[bytes, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, ders in zip(paths, pool.map(certs, paths), strict=True):
            for d in ders:
                found.setdefault(d, str(path.relative_to(CORPUS)))
    return found


def openssl_view(der_bytes: bytes) -> dict[str, object]:
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-text", "-fingerprint", "-sha256",
         "-nameopt", "RFC2253,-esc_msb"],
        input=der_bytes, capture_output=True, check=True).stdout.decode()
    san = re.search(r"Subject Alternative Name:.*\n\s*(.*)", out)
    names = san[1].split(", ") if san else []

    def when(label: str) -> int:
        m = re.search(label + r"\s*: (.*GMT)", out)
        assert m is not None
        return ns(datetime.strptime(m[1], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC))

    bits = re.search(r"Public-Key: \((\d+) bit\)", out)
    curve = re.search(r"ASN1 OID: (\S+)", out)
    subject = re.search(r"^\s*Subject: (.*)$", out, re.M)
    issuer = re.search(r"^\s*Issuer: (.*)$", out, re.M)
    sig = re.search(r"Signature Algorithm: (\S+)", out)
    fp = re.search(r"Fingerprint=(\S+)", out)
    assert subject and issuer and sig and fp
    return {
        "subject": subject[1], "issuer": issuer[1], "signature_algorithm": sig[1],
        "sha256": fp[1].replace(":", "").lower(),
        "san_dns": tuple(n[4:] for n in names if n.startswith("DNS:")),
        "san_ips": tuple(n[11:] for n in names if n.startswith("IP Address:")),
        "not_before": when("Not Before"), "not_after": when("Not After"),
        "bits": bits[1] if bits else None,
        "curve": {"prime256v1": "secp256r1"}.get(curve[1], curve[1]) if curve else None,
    }


def compare_with_openssl(info: CertInfo, view: dict[str, object]) -> None:
    for field in ("subject", "issuer", "signature_algorithm", "sha256", "san_dns", "san_ips",
                  "not_before", "not_after"):
        assert getattr(info, field) == view[field], field
    if view["curve"]:
        assert info.key == f"EC {view['curve']}"
    elif view["bits"]:
        assert info.key.endswith(f" {view['bits']}")


@pytest.mark.tshark
def test_corpus_certificates_match_openssl() -> None:
    require(shutil.which("openssl") is not None, "openssl is not installed")
    found = corpus_certificates()
    require(len(found) > 0, "no certificates in the corpus")
    with ThreadPoolExecutor(max_workers=4) as pool:
        views = list(pool.map(openssl_view, found))
    for (der_bytes, where), view in zip(found.items(), views, strict=True):
        info = parse_certificate(der_bytes)
        try:
            compare_with_openssl(info, view)
        except AssertionError as err:
            raise AssertionError(f"{where}: {info.subject}: {err}") from err
    assert len(found) >= 40


@pytest.mark.tshark
def test_corpus_cn_and_sans_equal_tshark() -> None:
    """tshark's own X.509 fields agree on CN and DNS names (one capture, many names)."""
    path = CORPUS / "ja4" / "tls-alpn-h2.pcap"
    require(path.exists(), f"{path} is missing")
    rows = tshark_fields(path, ["tls.handshake.certificate", "x509ce.dNSName",
                                "x509sat.printableString", "x509sat.uTF8String"],
                         display_filter="tls.handshake.type == 11")
    assert len(rows) == 1
    certs, dns, printable, utf8 = rows[0]
    infos = [parse_certificate(bytes.fromhex(h.replace(":", ""))) for h in certs.split(",")]
    assert [n for i in infos for n in i.san_dns] == dns.split(",")
    shown = set(printable.split(",")) | set(utf8.split(","))
    for info in infos:
        assert info.subject_cn in shown and info.issuer_cn in shown


@pytest.mark.tshark
def test_corpus_chains_verify_without_crashing() -> None:
    """Each chain gets a verdict at its own time; signatures and order hold."""
    path = CORPUS / "ja4" / "tls-alpn-h2.pcap"
    require(path.exists(), f"{path} is missing")
    rows = tshark_fields(path, ["frame.time_epoch", "tls.handshake.certificate"],
                         display_filter="tls.handshake.type == 11")
    epoch, certs = rows[0]
    chain = [bytes.fromhex(h.replace(":", "")) for h in certs.split(",")]
    sec, _, frac = epoch.partition(".")
    at_ns = int(sec) * 1_000_000_000 + int((frac + "0" * 9)[:9])
    v = verify_chain(chain, at_ns=at_ns, server_name="www.cloudflare.com")
    assert [c.name for c in v.checks] == CHECKS
    for step in ("order", "signatures", "validity", "hostname"):
        check = v.check(step)
        assert check is not None and check.ok, check


# The zeek trace whose one certificate has 10,000 subjectAltNames, cut into
# many small handshake records. tshark 4.0 does not reassemble it, so the
# certificate is dug out of the raw TCP stream here; zeek's ssl.log gives the
# fingerprint and subject, its baseline the number of DNS names.
FRAGMENTED = CORPUS / "zeek" / "tls" / "tls-fragmented-handshake.pcap.gz"
ZEEK_SSL_LOG = CORPUS / "zeek" / "tls" / "expected" / "tls-fragmented-handshake.pcap.gz" / "ssl.log"


def _server_stream(path: Path) -> bytes:
    require(shutil.which("tshark") is not None, "tshark is not installed")
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "follow,tcp,raw,0"],
                         capture_output=True, text=True, check=True).stdout
    return b"".join(bytes.fromhex(line.strip()) for line in out.splitlines()
                    if line.startswith("\t") and line.strip())


def _first_certificate_message(stream: bytes) -> list[bytes]:
    """The certificate_list of the first Certificate message (RFC 5246 §7.4.2)."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(stream) and stream[pos] == 22:  # handshake records only
        length = int.from_bytes(stream[pos + 3:pos + 5], "big")
        handshake += stream[pos + 5:pos + 5 + length]
        pos += 5 + length
    at = 0
    while at + 4 <= len(handshake):
        msg_type, length = handshake[at], int.from_bytes(handshake[at + 1:at + 4], "big")
        body = bytes(handshake[at + 4:at + 4 + length])
        at += 4 + length
        if msg_type == 11:
            total = int.from_bytes(body[:3], "big")
            assert total == len(body) - 3
            certs, i = [], 3
            while i < len(body):
                n = int.from_bytes(body[i:i + 3], "big")
                certs.append(body[i + 3:i + 3 + n])
                i += 3 + n
            return certs
    raise AssertionError("no Certificate message in the stream")


@pytest.mark.tshark
def test_fragmented_handshake_certificate_with_10000_sans() -> None:
    require(FRAGMENTED.exists(), f"{FRAGMENTED} is missing")
    chain = _first_certificate_message(_server_stream(FRAGMENTED))
    start = time.perf_counter()
    info = parse_certificate(chain[0])
    elapsed = time.perf_counter() - start
    assert len(info.san_dns) == 10_000  # zeek's baseline.stdout
    assert elapsed < 0.5, f"parsing took {elapsed:.3f} s"
    fields = next(line for line in ZEEK_SSL_LOG.read_text().splitlines()
              if line and not line.startswith("#")).split("\t")
    header = next(line for line in ZEEK_SSL_LOG.read_text().splitlines()
                  if line.startswith("#fields")).split("\t")[1:]
    log = dict(zip(header, fields, strict=True))
    assert info.sha256 == log["cert_chain_fps"]
    assert info.subject == log["subject"] == "CN=Bro" and info.issuer == log["issuer"]
    compare_with_openssl(info, openssl_view(chain[0]))
    v = verify_chain(chain, at_ns=info.not_before + 1, server_name="104.236.167.107")
    assert "hostname" in failed(v)  # zeek's sni_matches_cert is F too


def test_hostile_certificate_fields_raise_no_python_warnings() -> None:
    """A country name of 15 letters and a zero serial (seen by the fuzzer): described as
    they are, and nothing reaches standard error as a Python warning."""
    import warnings

    from handshaker.tls.certs import parse_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns when the name is made, too
        name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ABCDEFGHIJKLMNO",
                                             _validate=False),
                          x509.NameAttribute(NameOID.COMMON_NAME, "odd")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now)
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        info = parse_certificate(der)
    assert "ABCDEFGHIJKLMNO" in info.subject
    assert not seen, [str(w.message) for w in seen]
