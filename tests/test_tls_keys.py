"""Key sources (tls/keys.py): NSS key logs, pcapng secrets blocks, server RSA keys."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import CORPUS, require, tshark_fields
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from handshaker.capture import open_capture
from handshaker.errors import UsageError
from handshaker.tls.keys import KeyLog, load_rsa_key

KEY_LOGS = sorted(p for p in CORPUS.rglob("*") if p.is_file() and (
    p.suffix == ".keylog" or p.name.endswith(("premaster.txt", "keys.txt"))
    or p.name == "log.txt"))

RSA_KEYS = {  # the corpus's server keys and the captures whose certificate they belong to
    "junkie/https/dokuwiki.pem": "junkie/https/dokuwiki.pcap",
    "junkie/https/mycorp.pem": "junkie/https/mycorp.pcap",
    "junkie/https/mycorp_with_sessions.pem": "junkie/https/mycorp_with_sessions.pcap",
    "scapy/tls_nss_example.srv_key.pem": "scapy/tls_nss_example.pcap",
}


def _labels(text: str) -> Counter[str]:
    return Counter(line.split()[0] for line in text.splitlines()
                   if line.strip() and not line.lstrip().startswith("#"))


def test_the_corpus_has_key_logs() -> None:
    require(len(KEY_LOGS) >= 10, f"corpus key logs missing under {CORPUS}")


@pytest.mark.parametrize("path", KEY_LOGS, ids=[str(p.relative_to(CORPUS)) for p in KEY_LOGS])
def test_corpus_key_logs_read_cleanly(path: Path) -> None:
    log = KeyLog()
    log.add_file(path)
    assert log.problems == []
    counts = _labels(path.read_text())
    assert Counter(label for label, _ in log.secrets) == counts
    assert log.sources == [str(path)]


def test_junk_is_reported_by_line_and_never_fatal() -> None:
    r = "ab" * 32
    secret48, secret32 = "cd" * 48, "ef" * 32
    text = "\n".join([
        "# a comment",                                   # 1
        "",                                              # 2
        f"CLIENT_RANDOM {r} {secret48}",                 # 3 good
        f"CLIENT_RANDOM {r}",                            # 4 two fields
        f"CLIENT_RANDOM {r} {secret48[:-2]}",            # 5 47 bytes
        f"CLIENT_RANDOM {'zz' * 32} {secret48}",         # 6 not hex
        f"SERVER_TRAFFIC_SECRET_0 {r} {secret32}",       # 7 good (TLS 1.3)
        f"SERVER_TRAFFIC_SECRET_3 {r} {secret32}",       # 8 good (after KeyUpdates)
        f"FUTURE_SECRET {r} {secret32}",                 # 9 unknown label
        f"CLIENT_RANDOM {r} {'00' * 48}",                # 10 a different one for the same
        f"RSA {'11' * 8} {'22' * 48}",                   # 11 good (the old RSA form)
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {r[:-2]} {secret32}",  # 12 31-byte random
        "garbage \x1b[31m here",                         # 13
    ])
    log = KeyLog()
    log.add_text(text, "keys.txt")
    rnd = bytes.fromhex(r)
    assert log.get("CLIENT_RANDOM", rnd) == bytes.fromhex(secret48)
    assert log.get("SERVER_TRAFFIC_SECRET_3", rnd) == bytes.fromhex(secret32)
    assert log.get("RSA", bytes.fromhex("11" * 8)) == bytes.fromhex("22" * 48)
    assert len(log) == 4 and log.has_session(rnd) and log.source_of(rnd) == "keys.txt"
    assert [p.split(":")[0] for p in log.problems] == [
        f"keys.txt line {n}" for n in (4, 5, 6, 9, 10, 12, 13)]
    assert all(p.endswith(": skipped") for p in log.problems)
    # no secret is ever repeated in a report, nor the raw bytes of a junk line
    for p in log.problems:
        assert secret48 not in p and secret32 not in p and "cd" * 8 not in p
        assert "\x1b" not in p


def test_problem_reports_are_bounded() -> None:
    log = KeyLog()
    log.add_text("junk\n" * 10_000, "big.txt")
    assert len(log.problems) == 50 and log.problems_dropped == 10_000 - 50


def test_secrets_blocks_hold_what_the_file_holds(tmp_path: Path) -> None:
    """editcap (Wireshark) writes a key log into a Decryption Secrets Block; reading the
    block gives the same secrets as reading the file."""
    editcap = shutil.which("editcap")
    require(editcap is not None, "editcap (Wireshark) is not installed")
    assert editcap is not None
    src = CORPUS / "ssldump/tls1.3_aes128.pcap"
    keylog = CORPUS / "ssldump/log.txt"
    require(src.is_file() and keylog.is_file(), "ssldump corpus files missing")
    out = tmp_path / "with-secrets.pcapng"
    subprocess.run([editcap, "--inject-secrets", f"tls,{keylog}", str(src), str(out)],
                   check=True, capture_output=True)
    with open_capture(out) as cap:
        list(cap.batches())
        blocks = cap.info.secrets
    from_block, from_file = KeyLog(), KeyLog()
    from_block.add_secrets_blocks(blocks)
    from_file.add_file(keylog)
    assert from_block.secrets == from_file.secrets and from_block.problems == []
    assert from_block.sources == ["pcapng secrets block 1"]


# -- RSA keys -----------------------------------------------------------------------------


def _write_forms(tmp_path: Path, key: rsa.RSAPrivateKey) -> dict[str, tuple[Path, bytes | None]]:
    s = serialization
    forms = {
        "pkcs1.pem": (s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, None),
        "pkcs8.pem": (s.Encoding.PEM, s.PrivateFormat.PKCS8, None),
        "pkcs8-encrypted.pem": (s.Encoding.PEM, s.PrivateFormat.PKCS8, b"s3cret"),
        "pkcs1-encrypted.pem": (s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, b"s3cret"),
        "pkcs1.der": (s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL, None),
        "pkcs8.der": (s.Encoding.DER, s.PrivateFormat.PKCS8, None),
        "pkcs8-encrypted.der": (s.Encoding.DER, s.PrivateFormat.PKCS8, b"s3cret"),
    }
    out = {}
    for name, (enc, fmt, password) in forms.items():
        crypt = (s.BestAvailableEncryption(password) if password
                 else s.NoEncryption())
        path = tmp_path / name
        path.write_bytes(key.private_bytes(enc, fmt, crypt))
        out[name] = (path, password)
    return out


def test_rsa_keys_in_every_form(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, (path, password) in _write_forms(tmp_path, key).items():
        got = load_rsa_key(path, password)
        assert got.bits == 2048, name
        assert got.key.private_numbers() == key.private_numbers(), name
        if password:
            with pytest.raises(UsageError, match="--rsa-key-password"):
                load_rsa_key(path)
            with pytest.raises(UsageError, match="wrong password"):
                load_rsa_key(path, b"not it")
    other = ec.generate_private_key(ec.SECP256R1())
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    with pytest.raises(UsageError, match="not RSA"):
        load_rsa_key(ec_path)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(UsageError, match="not a PEM or DER private key"):
        load_rsa_key(junk)
    with pytest.raises(UsageError, match="cannot read"):
        load_rsa_key(tmp_path / "missing.pem")


def _server_certificate(capture: Path) -> bytes:
    rows = tshark_fields(capture, ["tls.handshake.certificate"],
                         display_filter="tls.handshake.type == 11")
    first = rows[0][0].split(",")[0]
    return bytes.fromhex(first.replace(":", ""))


@pytest.mark.tshark
def test_corpus_rsa_keys_match_their_certificates_only() -> None:
    require(shutil.which("tshark") is not None, "tshark is not installed")
    keys = {k: load_rsa_key(CORPUS / k) for k in RSA_KEYS}
    certs = {k: _server_certificate(CORPUS / c) for k, c in RSA_KEYS.items()}
    for k, key in keys.items():
        for k2, cert in certs.items():
            same_key = (CORPUS / k).read_bytes() == (CORPUS / k2).read_bytes()
            assert key.matches(cert) == (k == k2 or same_key), (k, k2)
    assert not keys["junkie/https/dokuwiki.pem"].matches(b"not a certificate")
