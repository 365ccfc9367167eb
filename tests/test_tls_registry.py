"""The IANA registry tables: row counts, known entries, and tshark as the oracle.

Wireshark keeps its own copy of every TLS value table; ``tshark -G values``
prints them, so each of our names is checked against Wireshark's for every
number both know. Differences are listed (with the reason) in ``KNOWN_DIFF``.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT, corpus_captures, require, tshark_fields

from handshaker.tls import registry
from handshaker.tls.registry import (
    alert,
    cert_compression_name,
    cipher_suite,
    cipher_suites,
    content_type_name,
    ec_point_format_name,
    extension_name,
    group_name,
    handshake_type_name,
    is_grease,
    is_grease_alpn,
    is_grease_psk_mode,
    signature_scheme_name,
    version_name,
)

DATA = ROOT / "src" / "handshaker" / "tls" / "data"


def _load_script() -> ModuleType:
    path = ROOT / "scripts" / "make_tls_registry.py"
    spec = importlib.util.spec_from_file_location("make_tls_registry", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_tls_registry"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assigned(name: str) -> list[dict[str, str]]:
    """Rows that give one value a name (not a range, not Unassigned)."""
    return [r for r in _csv(name)
            if "-" not in r["Value"] and "*" not in r["Value"] and r["Description"] != "Unassigned"]


# ---------------------------------------------------------------- tables


def test_iana_copies_are_whole() -> None:
    # The source files' lengths (the signature and group copies had CRLF there).
    sizes = {"tls-parameters-4.csv": (25210, False), "tls-parameters-8.csv": (5420, True),
             "tls-signaturescheme.csv": (30598, True)}
    for name, (size, crlf) in sizes.items():
        text = (DATA / name).read_text(encoding="utf-8")
        assert len(text) + (text.count("\n") if crlf else 0) == size, name


def test_cipher_suite_count_matches_csvs() -> None:
    iana = [r for r in _assigned("tls-parameters-4.csv")
            if not r["Description"].startswith("Reserved")]
    legacy = _csv("legacy-cipher-suites.csv")
    assert len(iana) == 352
    assert len(cipher_suites()) == len(iana) + len(legacy)
    for r in iana:
        hi, lo = (int(x, 16) for x in r["Value"].split(","))
        assert cipher_suite(hi << 8 | lo).name == r["Description"]


def test_other_counts_match_csvs() -> None:
    tables = {
        "tls-parameters-8.csv": registry._GROUPS,
        "tls-signaturescheme.csv": registry._SIGNATURE_SCHEMES,
        "rfc-tls-content-types.csv": registry._CONTENT_TYPES,
        "rfc-tls-handshake-types.csv": registry._HANDSHAKE_TYPES,
        "rfc-tls-ec-point-formats.csv": registry._EC_POINT_FORMATS,
        "rfc-tls-cert-compression.csv": registry._CERT_COMPRESSION,
    }
    for name, table in tables.items():
        assert len(table) == len(_assigned(name)), name
    assert len(registry._ALERTS) == len(_csv("rfc-tls-alerts.csv"))
    assert len(registry._EXTENSIONS) == (len(_csv("rfc-tls-extension-types.csv"))
                                         + len(_csv("legacy-extension-types.csv")))
    assert len([g for g in registry._GROUPS.values() if g == "GREASE"]) == 16


def test_derived_table_is_generated() -> None:
    script = _load_script()
    assert (DATA / "cipher-suites-derived.csv").read_text(encoding="utf-8") == \
        script.render(script.derive_rows())
    assert script.main(["--check"]) == 0


@pytest.mark.parametrize(("code", "expect"), [
    (0x009C, ("TLS_RSA_WITH_AES_128_GCM_SHA256", "rsa", "rsa", "AES_128_GCM", "SHA256",
              True, False, False, False)),
    (0xC02F, ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ecdhe", "rsa", "AES_128_GCM", "SHA256",
              True, False, False, True)),
    (0x1301, ("TLS_AES_128_GCM_SHA256", "tls13", "tls13", "AES_128_GCM", "SHA256",
              True, True, False, True)),
    (0x0039, ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "dhe", "rsa", "AES_256_CBC", "SHA",
              False, False, False, True)),
    (0x0035, ("TLS_RSA_WITH_AES_256_CBC_SHA", "rsa", "rsa", "AES_256_CBC", "SHA",
              False, False, False, False)),
    (0x0003, ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", "rsa", "rsa", "RC4_40", "MD5",
              False, False, True, False)),
    (0x0000, ("TLS_NULL_WITH_NULL_NULL", "null", "null", "NULL", "NULL",
              False, False, False, False)),
    (0x003B, ("TLS_RSA_WITH_NULL_SHA256", "rsa", "rsa", "NULL", "SHA256",
              False, False, False, False)),
    (0x000A, ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "rsa", "rsa", "3DES_EDE_CBC", "SHA",
              False, False, False, False)),
    (0xC005, ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", "ecdh", "ecdsa", "AES_256_CBC", "SHA",
              False, False, False, False)),
    (0x0030, ("TLS_DH_DSS_WITH_AES_128_CBC_SHA", "dh", "dss", "AES_128_CBC", "SHA",
              False, False, False, False)),
    (0x0034, ("TLS_DH_anon_WITH_AES_128_CBC_SHA", "dhe", "anon", "AES_128_CBC", "SHA",
              False, False, False, True)),
    (0xCCA9, ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ecdhe", "ecdsa",
              "CHACHA20_POLY1305", "SHA256", True, False, False, True)),
    (0x00A8, ("TLS_PSK_WITH_AES_128_GCM_SHA256", "psk", "psk", "AES_128_GCM", "SHA256",
              True, False, False, False)),
    (0x00AA, ("TLS_DHE_PSK_WITH_AES_128_GCM_SHA256", "dhe_psk", "psk", "AES_128_GCM", "SHA256",
              True, False, False, True)),
    (0xD001, ("TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256", "ecdhe_psk", "psk", "AES_128_GCM",
              "SHA256", True, False, False, True)),
    (0x00AC, ("TLS_RSA_PSK_WITH_AES_128_GCM_SHA256", "rsa_psk", "rsa_psk", "AES_128_GCM",
              "SHA256", True, False, False, False)),
    (0xC01D, ("TLS_SRP_SHA_WITH_AES_128_CBC_SHA", "srp", "srp", "AES_128_CBC", "SHA",
              False, False, False, True)),
    (0x001E, ("TLS_KRB5_WITH_DES_CBC_SHA", "krb5", "krb5", "DES_CBC", "SHA",
              False, False, False, False)),
    (0xC09C, ("TLS_RSA_WITH_AES_128_CCM", "rsa", "rsa", "AES_128_CCM", "SHA256",
              True, False, False, False)),
    (0x1305, ("TLS_AES_128_CCM_8_SHA256", "tls13", "tls13", "AES_128_CCM_8", "SHA256",
              True, True, False, True)),
    (0x00FF, ("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "scsv", "scsv", "SCSV", "SCSV",
              False, False, False, False)),
    (0x5600, ("TLS_FALLBACK_SCSV", "scsv", "scsv", "SCSV", "SCSV",
              False, False, False, False)),
    (0x0064, ("TLS_RSA_EXPORT1024_WITH_RC4_56_SHA", "rsa", "rsa", "RC4_56", "SHA",
              False, False, True, False)),
    (0x001D, ("SSL_FORTEZZA_KEA_WITH_FORTEZZA_CBC_SHA", "fortezza", "fortezza", "FORTEZZA_CBC",
              "SHA", False, False, False, False)),
])
def test_known_suites(code: int, expect: tuple[object, ...]) -> None:
    s = cipher_suite(code)
    assert (s.name, s.key_exchange, s.authentication, s.cipher, s.hash, s.aead, s.tls13,
            s.export, s.forward_secrecy) == expect
    assert s.known and s.code == code


def test_every_suite_is_classified() -> None:
    kx = {"rsa", "dhe", "ecdhe", "dh", "ecdh", "psk", "dhe_psk", "ecdhe_psk", "rsa_psk", "srp",
          "krb5", "null", "tls13", "scsv", "eccpwd", "ecjpake", "gost", "fortezza"}
    for s in cipher_suites().values():
        assert s.key_exchange in kx, s
        assert s.cipher and s.hash and s.authentication, s
        assert s.tls13 == (s.key_exchange == "tls13"), s
        assert not (s.export and s.tls13), s
        assert s.aead == any(m in s.cipher for m in ("GCM", "CCM", "POLY1305", "MGM", "AEGIS"))
        if s.key_exchange in ("rsa", "dh", "ecdh", "psk", "rsa_psk", "krb5"):
            assert not s.forward_secrecy, s
        if s.key_exchange in ("dhe", "ecdhe", "dhe_psk", "ecdhe_psk"):
            assert s.forward_secrecy, s


def test_classify_rejects_nonsense() -> None:
    script = _load_script()
    with pytest.raises(ValueError, match="not a cipher suite"):
        script.classify("AES128-SHA")
    with pytest.raises(ValueError, match="unknown key exchange"):
        script.classify("TLS_FOO_WITH_AES_128_CBC_SHA")


def test_unknown_and_grease() -> None:
    u = cipher_suite(0x1234)
    assert (u.name, u.known, u.key_exchange) == ("0x1234 (unknown)", False, "unknown")
    g = cipher_suite(0x2A2A)
    assert (g.name, g.known, g.key_exchange) == ("GREASE", False, "grease")
    assert group_name(0x7A7A) == extension_name(0xFAFA) == version_name(0x0A0A) == "GREASE"
    assert signature_scheme_name(0x3A3A) == "GREASE"
    assert group_name(4999) == "0x1387 (unknown)"
    assert extension_name(0x7777) == "0x7777 (unknown)"
    assert handshake_type_name(99) == "99 (unknown)"
    assert content_type_name(99) == "99 (unknown)"
    assert alert(200) == ("200 (unknown)", "An alert number that no registry lists.")


def test_is_grease() -> None:
    grease = {v for v in range(0x10000) if is_grease(v)}
    assert grease == {0x0A0A + 0x1010 * i for i in range(16)}
    assert [m for m in range(256) if is_grease_psk_mode(m)] == \
        [0x0B, 0x2A, 0x49, 0x68, 0x87, 0xA6, 0xC5, 0xE4]
    assert is_grease_alpn(b"\x5a\x5a") and not is_grease_alpn(b"h2")
    # RFC 8701 values are reserved in the IANA tables too.
    for v in sorted(grease):
        assert registry._GROUPS.get(v) == "GREASE"


def test_small_registries() -> None:
    assert alert(0)[0] == "close_notify" and alert(0)[1].endswith(".")
    assert alert(40)[0] == "handshake_failure"
    assert all(summary.endswith(".") and summary.count(". ") == 0
               for _, summary in registry._ALERTS.values())
    assert group_name(23) == "secp256r1" and group_name(29) == "x25519"
    assert group_name(4588) == "X25519MLKEM768" and group_name(256) == "ffdhe2048"
    assert signature_scheme_name(0x0804) == "rsa_pss_rsae_sha256"
    assert signature_scheme_name(0x0403) == "ecdsa_secp256r1_sha256"
    assert signature_scheme_name(0x0402) == "dsa_sha256"  # a TLS 1.2 (hash, sig) pair
    assert extension_name(0) == "server_name" and extension_name(51) == "key_share"
    assert extension_name(65281) == "renegotiation_info"
    assert handshake_type_name(1) == "client_hello" and handshake_type_name(12) == \
        "server_key_exchange"
    assert content_type_name(23) == "application_data"
    assert ec_point_format_name(0) == "uncompressed"
    assert cert_compression_name(2) == "brotli"


def test_version_names() -> None:
    assert version_name(0x0300) == "SSL 3.0"
    assert [version_name(0x0301 + i) for i in range(4)] == \
        ["TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"]
    assert version_name(0x7F17) == "TLS 1.3 (draft 23)"
    assert version_name(0x7F1C) == "TLS 1.3 (draft 28)"
    assert version_name(0xFEFD) == "DTLS 1.2"
    assert version_name(0x0305) == "0x0305 (unknown)"


# ------------------------------------------------------- tshark's tables


@cache
def _tshark_values() -> dict[str, dict[int, list[str]]]:
    """Wireshark's value strings: field -> number -> names (``tshark -G values``)."""
    require(shutil.which("tshark") is not None, "tshark is not installed")
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=str(ROOT / ".no-such-dir"))
    out = subprocess.run(["tshark", "-G", "values"], capture_output=True, text=True,
                         env=env, check=True).stdout
    table: dict[str, dict[int, list[str]]] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "V" and parts[1].startswith("tls."):
            try:
                value = int(parts[2], 0)
            except ValueError:
                continue
            table.setdefault(parts[1], {}).setdefault(value, []).append(parts[3])
    return table


def _norm(name: str) -> str:
    """Wireshark writes some tables in Title Case ('Close Notify')."""
    name = "grease" if name == "Reserved (GREASE)" else name
    return re.sub(r"[\s_-]+", " ", name).strip().lower()


# (field, number) -> why our name differs from Wireshark 4.0's.
KNOWN_DIFF: dict[tuple[str, int], str] = {
    ("tls.handshake.extension.type", 34): "IANA renamed delegated_credentials (RFC 9345)",
    ("tls.handshake.extension.type", 40): "IANA says Reserved; Wireshark adds the draft name",
    ("tls.handshake.extension.type", 46): "IANA says Reserved; Wireshark adds the draft name",
    ("tls.handshake.type", 21): "RFC 6066 calls it certificate_url",
    ("tls.handshake.type", 67): "NPN's next_protocol; Wireshark mislabels it",
    ("tls.record.content_type", 25): "RFC 9146 calls it tls12_cid",
    # Experimental OQS code points in Wireshark, since assigned by IANA to ML-KEM.
    ("tls.handshake.extensions_supported_group", 0x0200): "IANA: MLKEM512",
    ("tls.handshake.extensions_supported_group", 0x0201): "IANA: MLKEM768",
    ("tls.handshake.extensions_supported_group", 0x0202): "IANA: MLKEM1024",
}


def _compare(field: str, name_of: object, *, min_common: int) -> None:
    assert callable(name_of)
    theirs = _tshark_values()[field]
    common = 0
    for value, names in theirs.items():
        ours = name_of(value)
        if ours.endswith("(unknown)"):
            continue  # a private or experimental number that IANA never assigned
        common += 1
        if (field, value) in KNOWN_DIFF:
            continue
        assert _norm(ours) in {_norm(n) for n in names}, (field, hex(value), ours, names)
    assert common >= min_common, (field, common)


@pytest.mark.tshark
def test_cipher_suite_names_equal_tshark() -> None:
    theirs = _tshark_values()["tls.handshake.ciphersuite"]
    checked = 0
    for code, suite in cipher_suites().items():
        if code in theirs:  # Wireshark 4.0 predates only the AEGIS suites
            assert [suite.name] == theirs[code], hex(code)
            checked += 1
    assert checked >= len(cipher_suites()) - 2


@pytest.mark.tshark
@pytest.mark.parametrize(("field", "name_of", "min_common"), [
    ("tls.handshake.extensions_supported_group", group_name, 50),
    ("tls.handshake.sig_hash_alg", signature_scheme_name, 17),
    ("tls.handshake.extension.type", extension_name, 70),
    ("tls.alert_message.desc", lambda c: alert(c)[0], 35),
    ("tls.handshake.type", handshake_type_name, 19),
    ("tls.record.content_type", content_type_name, 6),
    ("tls.handshake.extensions_ec_point_format", ec_point_format_name, 3),
    ("tls.compress_certificate.algorithm", cert_compression_name, 3),
    ("tls.handshake.extensions.supported_version", version_name, 43),
])
def test_names_equal_tshark(field: str, name_of: object, min_common: int) -> None:
    _compare(field, name_of, min_common=min_common)


# ------------------------------------------------------------ the corpus


@cache
def _server_hello_suites() -> dict[Path, list[int]]:
    require(shutil.which("tshark") is not None, "tshark is not installed")

    def suites(path: Path) -> list[int]:
        rows = tshark_fields(path, ["tls.handshake.ciphersuite"],
                             display_filter="tls.handshake.type == 2")
        return [int(v, 16) for row in rows for v in row[0].split(",") if v]

    paths = corpus_captures()
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(suites, paths), strict=True))


@pytest.mark.tshark
def test_corpus_server_hello_suites_are_known() -> None:
    theirs = _tshark_values()["tls.handshake.ciphersuite"]
    seen: set[int] = set()
    for path, suites in _server_hello_suites().items():
        for code in suites:
            suite = cipher_suite(code)
            assert suite.known, (path.name, hex(code))
            assert [suite.name] == theirs[code], (path.name, hex(code))
            seen.add(code)
    require(len(seen) > 0, "no ServerHello in the corpus")
    # The corpus sweeps (lekensteyn all/ssl3) cover RSA, DHE, ECDHE, static ECDH and TLS 1.3.
    kinds = {cipher_suite(c).key_exchange for c in seen}
    assert {"rsa", "dhe", "ecdhe", "ecdh", "tls13"} <= kinds
