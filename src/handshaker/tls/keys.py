"""Key material for decryption: NSS key logs, pcapng secrets, server RSA keys.

An NSS key log (``SSLKEYLOGFILE``; the format is described in
draft-ietf-tls-keylogfile) has one secret per line, ``LABEL <client random>
<secret>`` in hex, where the client random (32 bytes) names the session:

* ``CLIENT_RANDOM``: the TLS <= 1.2 master secret (48 bytes);
* ``CLIENT_EARLY_TRAFFIC_SECRET``, ``CLIENT_HANDSHAKE_TRAFFIC_SECRET``,
  ``SERVER_HANDSHAKE_TRAFFIC_SECRET``, ``CLIENT_TRAFFIC_SECRET_N``,
  ``SERVER_TRAFFIC_SECRET_N``, ``EARLY_EXPORTER_SECRET``, ``EXPORTER_SECRET``:
  TLS 1.3 secrets (the hash's length: 32 or 48 bytes);
* ``RSA <first 8 bytes of the encrypted pre-master secret> <pre-master
  secret>``: the older form NSS wrote for RSA key exchange.

Lines starting with ``#`` and blank lines are skipped; anything else that
is not such a line is reported (file, line number, why) and skipped, never
fatal. Secrets are never put in a report: a line is named by its number.
A pcapng Decryption Secrets Block of type ``TLSK`` holds the same text.

A server's RSA private key (PEM or DER; PKCS#1 or PKCS#8, encrypted or not)
is matched to a session by the public key of the certificate the server
sent, so nobody has to say which port or address it belongs to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from handshaker.errors import UsageError

#: a key log file larger than this is refused (a limit, STYLE §10)
MAX_KEYLOG_BYTES = 64 * 1024 * 1024
#: a private key file larger than this is refused
MAX_KEY_FILE_BYTES = 1024 * 1024
#: problems kept per key source (the rest are counted)
MAX_PROBLEMS = 50

#: pcapng Decryption Secrets Block type for a TLS key log (pcapng spec, "TLSK")
DSB_TLS_KEY_LOG = 0x544C534B

TLS13_LABELS = frozenset({
    "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET", "EARLY_EXPORTER_SECRET", "EXPORTER_SECRET",
})
_TRAFFIC_N = re.compile(r"(CLIENT|SERVER)_TRAFFIC_SECRET_([0-9]+)\Z")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")


def _label_ok(label: str) -> bool:
    return label in ("CLIENT_RANDOM", "RSA") or label in TLS13_LABELS or \
        _TRAFFIC_N.match(label) is not None


@dataclass(slots=True)
class KeyLog:
    """The secrets of one or more key log sources, by (label, client random).

    ``problems`` names each line that was skipped and why; ``sources`` says
    where the secrets came from (file names, "pcapng secrets block").
    """

    secrets: dict[tuple[str, bytes], bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    problems_dropped: int = 0
    sources: list[str] = field(default_factory=list)
    # which source each client random's secrets came from
    origin: dict[bytes, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.secrets)

    def get(self, label: str, client_random: bytes) -> bytes | None:
        """The secret logged under ``label`` for this session (RSA: the key is the first
        8 bytes of the encrypted pre-master secret), or None."""
        return self.secrets.get((label, client_random))

    def has_session(self, client_random: bytes) -> bool:
        return client_random in self.origin

    def source_of(self, client_random: bytes) -> str | None:
        return self.origin.get(client_random)

    # -- reading -------------------------------------------------------------------------
    def add_file(self, path: str | os.PathLike[str]) -> None:
        """Read a key log file; raises :class:`UsageError` if it cannot be read at all."""
        name = os.fspath(path)
        data = _read_limited(name, MAX_KEYLOG_BYTES, "MAX_KEYLOG_BYTES", "the key log")
        self.add_text(data.decode("ascii", "replace"), name)

    def add_secrets_blocks(self, blocks: list[Any], first: int = 1) -> None:
        """Take the TLS key logs of a capture's pcapng Decryption Secrets Blocks (numbered
        from ``first`` in messages)."""
        for i, b in enumerate(blocks, first - 1):
            if b.secrets_type != DSB_TLS_KEY_LOG:
                self._problem(f"pcapng secrets block {i + 1}: type 0x{b.secrets_type:08x} is "
                              "not a TLS key log: skipped")
                continue
            self.add_text(bytes(b.data).decode("ascii", "replace"),
                          f"pcapng secrets block {i + 1}")

    def add_text(self, text: str, source: str) -> None:
        """Read key log lines; each bad one becomes a problem naming ``source`` and its line."""
        self.sources.append(source)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            why = self._add_line(line, source)
            if why:
                self._problem(f"{source} line {number}: {why}: skipped")

    def _add_line(self, line: str, source: str) -> str | None:
        parts = line.split()
        if len(parts) != 3:
            return f"{len(parts)} fields where a key log line has 3 (label, client random, " \
                   "secret)"
        label, ident, secret = parts
        if not _label_ok(label):
            return f"unknown label {label[:40]!r}"
        if not _HEX.match(ident) or not _HEX.match(secret) or len(ident) % 2 or len(secret) % 2:
            return "the client random and the secret must be hex"
        ident_b, secret_b = bytes.fromhex(ident), bytes.fromhex(secret)
        if label == "RSA":
            if len(ident_b) != 8 or len(secret_b) != 48:
                return ("RSA lines hold 8 bytes of the encrypted pre-master secret and the "
                        "48-byte pre-master secret")
        elif len(ident_b) != 32:
            return f"a client random is 32 bytes, not {len(ident_b)}"
        elif label == "CLIENT_RANDOM" and len(secret_b) != 48:
            return f"a master secret is 48 bytes, not {len(secret_b)}"
        elif label != "CLIENT_RANDOM" and len(secret_b) not in (32, 48):
            return f"a TLS 1.3 secret is 32 or 48 bytes (SHA-256, SHA-384), not {len(secret_b)}"
        key = (label, ident_b)
        known = self.secrets.get(key)
        if known is not None and known != secret_b:
            return f"a second, different {label} secret for the same session (the first kept)"
        self.secrets[key] = secret_b
        if label != "RSA":
            self.origin.setdefault(ident_b, source)
        return None

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.problems_dropped += 1


def _read_limited(name: str, limit: int, limit_name: str, what: str) -> bytes:
    """A key file's bytes; a file over ``limit`` or unreadable is a :class:`UsageError`."""
    try:
        size = os.path.getsize(name)
        if size > limit:
            raise UsageError(f"{name}: {size} bytes, too large for {what} "
                             f"({limit_name} = {limit})")
        with open(name, "rb") as f:
            return f.read(limit + 1)
    except OSError as err:
        raise UsageError(f"{name}: cannot read {what} ({err.strerror})") from None


# -- server RSA keys --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerKey:
    """A server's RSA private key and where it came from."""

    key: Any  # cryptography's RSAPrivateKey
    source: str
    bits: int

    def matches(self, certificate_der: bytes) -> bool:
        """Whether this key belongs to the certificate (the same public key)."""
        from cryptography import x509

        try:
            public = x509.load_der_x509_certificate(certificate_der).public_key()
        except ValueError:
            return False
        numbers = getattr(public, "public_numbers", None)
        return numbers is not None and numbers() == self.key.public_key().public_numbers()


def load_rsa_key(path: str | os.PathLike[str], password: bytes | None = None) -> ServerKey:
    """Read a server's RSA private key: PEM or DER, PKCS#1 or PKCS#8, encrypted with
    ``password`` or not. Raises :class:`UsageError` with the reason (the file is never
    echoed)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    name = os.fspath(path)
    data = _read_limited(name, MAX_KEY_FILE_BYTES, "MAX_KEY_FILE_BYTES", "the key")
    loader = load_pem_private_key if b"-----BEGIN" in data else load_der_private_key
    try:
        key = loader(data, password=password)
    except TypeError as err:
        # cryptography: a password for an unencrypted key, or none for an encrypted one
        if password is None:
            raise UsageError(f"{name}: the key is encrypted: give its password "
                             "(--rsa-key-password)") from None
        raise UsageError(f"{name}: {err}") from None
    except ValueError:
        if password is not None:
            raise UsageError(f"{name}: not a private key this password opens (wrong "
                             "password, or not a PEM/DER private key)") from None
        raise UsageError(f"{name}: not a PEM or DER private key") from None
    except Exception as err:  # an unsupported algorithm or encryption
        raise UsageError(f"{name}: cannot load the key ({type(err).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageError(f"{name}: a {type(key).__name__.removeprefix('_')} key, not RSA: "
                         "only RSA key exchange can be decrypted with a server key")
    return ServerKey(key, name, key.key_size)


__all__ = [
    "DSB_TLS_KEY_LOG", "MAX_KEYLOG_BYTES", "MAX_KEY_FILE_BYTES", "KeyLog", "ServerKey",
    "load_rsa_key",
]
