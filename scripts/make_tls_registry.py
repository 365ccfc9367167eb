#!/usr/bin/env python3
"""Derive the cipher-suite classification table from the IANA names.

Reads ``src/handshaker/tls/data/tls-parameters-4.csv`` (the IANA "TLS Cipher
Suites" registry, copied verbatim) and ``legacy-cipher-suites.csv`` (suites
that were deployed but never registered), takes every suite name apart and
writes ``cipher-suites-derived.csv``: key exchange, authentication, bulk
cipher, MAC/PRF hash and the AEAD / TLS 1.3 / export / forward-secrecy flags.

The classification is a function of the name alone, so it is rules and tables
here, not a hand-typed row per suite. ``tests/test_tls_registry.py`` imports
this file and checks that the checked-in table is what it generates.

    python scripts/make_tls_registry.py          # rewrite the derived table
    python scripts/make_tls_registry.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "handshaker" / "tls" / "data"
IANA_SUITES = DATA / "tls-parameters-4.csv"
LEGACY_SUITES = DATA / "legacy-cipher-suites.csv"
DERIVED = DATA / "cipher-suites-derived.csv"

HEADER = ["Value", "Description", "KeyExchange", "Authentication", "Cipher", "Hash",
          "AEAD", "TLS13", "Export", "ForwardSecrecy", "Recommended", "Reference"]

# What stands between "TLS_" (or "SSL_") and "_WITH_": key exchange,
# authentication and whether it is an export (weakened) variant.
# RFC 5246 §7.4.2-7.4.3 and Appendix A.5; RFC 4492/8422 §2; RFC 4279 §2-4;
# RFC 5054 §2.7 (SRP); RFC 2712 (KRB5); RFC 8492 (ECCPWD); RFC 9189 (GOST).
# DH_anon and ECDH_anon send fresh (EC)DH parameters in ServerKeyExchange
# (RFC 5246 §7.4.3, RFC 8422 §2.3): ephemeral, but nobody is authenticated.
KX_TABLE: dict[str, tuple[str, str, bool]] = {
    "NULL": ("null", "null", False),
    "RSA": ("rsa", "rsa", False),
    "RSA_EXPORT": ("rsa", "rsa", True),
    "RSA_EXPORT1024": ("rsa", "rsa", True),
    "RSA_FIPS": ("rsa", "rsa", False),
    "DH_DSS": ("dh", "dss", False),
    "DH_DSS_EXPORT": ("dh", "dss", True),
    "DH_RSA": ("dh", "rsa", False),
    "DH_RSA_EXPORT": ("dh", "rsa", True),
    "DHE_DSS": ("dhe", "dss", False),
    "DHE_DSS_EXPORT": ("dhe", "dss", True),
    "DHE_DSS_EXPORT1024": ("dhe", "dss", True),
    "DHE_RSA": ("dhe", "rsa", False),
    "DHE_RSA_EXPORT": ("dhe", "rsa", True),
    "DH_anon": ("dhe", "anon", False),
    "DH_anon_EXPORT": ("dhe", "anon", True),
    "ECDH_ECDSA": ("ecdh", "ecdsa", False),
    "ECDH_RSA": ("ecdh", "rsa", False),
    "ECDH_anon": ("ecdhe", "anon", False),
    "ECDHE_ECDSA": ("ecdhe", "ecdsa", False),
    "ECDHE_RSA": ("ecdhe", "rsa", False),
    "KRB5": ("krb5", "krb5", False),
    "KRB5_EXPORT": ("krb5", "krb5", True),
    "PSK": ("psk", "psk", False),
    "DHE_PSK": ("dhe_psk", "psk", False),
    "PSK_DHE": ("dhe_psk", "psk", False),  # 0xC0AA/0xC0AB, RFC 6655 spells it so
    "RSA_PSK": ("rsa_psk", "rsa_psk", False),
    "ECDHE_PSK": ("ecdhe_psk", "psk", False),
    "SRP_SHA": ("srp", "srp", False),
    "SRP_SHA_RSA": ("srp", "rsa", False),
    "SRP_SHA_DSS": ("srp", "dss", False),
    "ECCPWD": ("eccpwd", "pwd", False),
    "ECJPAKE": ("ecjpake", "pwd", False),
    "GOSTR341094": ("gost", "gost", False),
    "GOSTR341001": ("gost", "gost", False),
    "GOSTR341112_256": ("gost", "gost", False),
    "FORTEZZA_KEA": ("fortezza", "fortezza", False),
}

# Key exchanges whose session keys survive a later theft of the server's
# long-term key: fresh (EC)DH on both sides, or a PAKE (SRP, dragonfly,
# EC-JPAKE), whose transcript does not give the key even with the password.
FORWARD_SECRET = frozenset({"dhe", "ecdhe", "dhe_psk", "ecdhe_psk", "srp", "eccpwd",
                            "ecjpake", "tls13"})

# The last token of "<cipher>_<mac>" when the suite names its MAC hash
# ("NULL" only in TLS_NULL_WITH_NULL_NULL, the state before any handshake).
MAC_TOKENS = frozenset({"MD5", "SHA", "SHA256", "SHA384", "SM3", "IMIT", "OMAC",
                        "GOSTR3411", "NULL"})

# Ciphers that carry their own integrity (AEAD): RFC 5116 and friends.
AEAD_MARKERS = ("GCM", "CCM", "CHACHA20_POLY1305", "MGM", "AEGIS")

# 40-bit ciphers that are export grade whatever the key exchange says.
EXPORT_CIPHERS = frozenset({"RC4_40", "RC2_CBC_40", "DES40_CBC", "DES_CBC_40"})

SCSV = frozenset({"TLS_EMPTY_RENEGOTIATION_INFO_SCSV", "TLS_FALLBACK_SCSV"})


@dataclass(frozen=True, slots=True)
class Classified:
    key_exchange: str
    authentication: str
    cipher: str
    hash: str
    aead: bool
    tls13: bool
    export: bool
    forward_secrecy: bool


def _is_aead(cipher: str) -> bool:
    return any(marker in cipher for marker in AEAD_MARKERS)


def classify(name: str) -> Classified:
    """Take one cipher suite name apart (see the tables above)."""
    if name in SCSV:
        # RFC 5746 §3.3 / RFC 7507 §2: signals in the cipher list, never chosen.
        return Classified("scsv", "scsv", "SCSV", "SCSV", False, False, False, False)
    if not name.startswith(("TLS_", "SSL_")):
        raise ValueError(f"not a cipher suite name: {name!r}")
    body = name[4:]
    if "_WITH_" not in body:
        # RFC 8446 §B.4: TLS 1.3 suites name only the AEAD and the HKDF hash;
        # key exchange and authentication are negotiated by extensions.
        # RFC 9150 TLS_SHA256_SHA256 / TLS_SHA384_SHA384 protect integrity only.
        cipher, _, hash_ = body.rpartition("_")
        if cipher in ("SHA256", "SHA384"):
            cipher = "NULL"
        return Classified("tls13", "tls13", cipher, hash_, _is_aead(cipher), True, False, True)
    kx_part, rest = body.split("_WITH_", 1)
    if re.search(r"_MGM_[LS]$", rest):
        # RFC 9367: the TLS 1.3 GOST suites are the ones with MGM; the part
        # before _WITH_ names the hash (Streebog-256), not a key exchange.
        return Classified("tls13", "tls13", rest, kx_part, True, True, False, True)
    try:
        kx, auth, export = KX_TABLE[kx_part]
    except KeyError:
        raise ValueError(f"{name}: unknown key exchange {kx_part!r}") from None
    head, _, last = rest.rpartition("_")
    if head and last in MAC_TOKENS:
        cipher, hash_ = head, last
    else:
        # RFC 6655 §3 / RFC 7251 §2: the CCM suites use the SHA-256 PRF and
        # name no hash; EC-JPAKE's CCM_8 suite follows them.
        cipher, hash_ = rest, "SHA256"
    aead = _is_aead(cipher)
    export = export or cipher in EXPORT_CIPHERS
    return Classified(kx, auth, cipher, hash_, aead, False, export, kx in FORWARD_SECRET)


def _iana_rows(path: Path) -> list[tuple[int, str, str, str]]:
    """(code, name, recommended, reference) for every assigned suite."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for value, description, _dtls, recommended, reference in reader:
            m = re.fullmatch(r"0x([0-9A-F]{2}),0x([0-9A-F]{2})", value)
            if not m or description.startswith(("Reserved", "Unassigned")):
                continue
            out.append((int(m[1] + m[2], 16), description, recommended, reference))
    return out


def _legacy_rows(path: Path) -> list[tuple[int, str, str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        return [(int(value, 16), description, "", reference)
                for value, description, reference in reader]


def derive_rows() -> list[list[str]]:
    """The derived table, header first, sorted by code."""
    rows: dict[int, list[str]] = {}
    for source in (_iana_rows(IANA_SUITES), _legacy_rows(LEGACY_SUITES)):
        for code, name, recommended, reference in source:
            if code in rows:
                raise ValueError(f"0x{code:04X} listed twice")
            c = classify(name)
            yn = {True: "Y", False: "N"}
            rows[code] = [f"0x{code:04X}", name, c.key_exchange, c.authentication, c.cipher,
                          c.hash, yn[c.aead], yn[c.tls13], yn[c.export],
                          yn[c.forward_secrecy], recommended, reference]
    return [HEADER] + [rows[code] for code in sorted(rows)]


def render(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the checked-in table differs")
    args = parser.parse_args(argv)
    text = render(derive_rows())
    if args.check:
        current = DERIVED.read_text(encoding="utf-8") if DERIVED.exists() else ""
        if current != text:
            print(f"{DERIVED} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    DERIVED.write_text(text, encoding="utf-8")
    print(f"wrote {DERIVED} ({text.count(chr(10)) - 1} suites)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
