"""SSL 3.0 and TLS 1.0–1.3 key derivation, record decryption and Finished verification.

Sans-I/O building blocks; the session stage feeds them (the randoms, the
suite, the records of each direction in order, the handshake transcript):

* :func:`prf`: RFC 2246 §5 (TLS 1.0/1.1: P_MD5 XOR P_SHA1 over the two
  halves of the secret) and RFC 5246 §5 (TLS 1.2: P_SHA256, or the suite's
  hash when it names SHA-384);
* :func:`key_block`: RFC 5246 §6.3, split into MAC keys, write keys and IVs
  (the 40-bit export keys expanded as RFC 2246 §6.3 says; SSL 3.0's MD5/SHA-1
  construction of RFC 6101 §6.2.2);
* :class:`RecordDecryptor`: one direction's records, with its own sequence
  number (RFC 5246 §6.1): AES-GCM (RFC 5288), AES-CCM and CCM_8 (RFC 6655),
  ChaCha20-Poly1305 (RFC 7905), CBC with HMAC (MAC-then-encrypt, RFC 5246
  §6.2.3.2, or encrypt-then-MAC, RFC 7366; the TLS 1.0 IV chained from the
  previous record) of AES, Camellia, SEED, 3DES, DES, IDEA and RC2, RC4,
  and NULL; anything else is :class:`UnsupportedCipher`; DEFLATE
  compression (RFC 3749) is undone after decryption; SSL 3.0's MAC and
  padding (RFC 6101 §5.2.3);
* :func:`verify_data`: RFC 5246 §7.4.9, the 12 bytes a Finished carries
  (:func:`ssl3_finished`: SSL 3.0's 36).

A record that does not authenticate raises :class:`DecryptError`: with
real keys that means the wrong key, or a damaged record; the caller says so
for that session and goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass
from typing import Any

from handshaker.errors import HandshakerError
from handshaker.tls.registry import CipherSuite

SSL30, TLS10, TLS11, TLS12 = 0x0300, 0x0301, 0x0302, 0x0303
AEAD_TAG = 16
DEFLATE = 1  # the compression method of RFC 3749
#: a compressed record inflates to at most 2^14 bytes (RFC 5246 §6.2.2); more is refused
MAX_INFLATED = 2**14 + 1024

#: bulk ciphers: name -> (kind, key length, IV length in the key block, record IV length)
CIPHERS: dict[str, tuple[str, int, int, int]] = {
    "AES_128_GCM": ("gcm", 16, 4, 8),
    "AES_256_GCM": ("gcm", 32, 4, 8),
    "AES_128_CCM": ("ccm", 16, 4, 8),
    "AES_256_CCM": ("ccm", 32, 4, 8),
    "AES_128_CCM_8": ("ccm8", 16, 4, 8),
    "AES_256_CCM_8": ("ccm8", 32, 4, 8),
    "CHACHA20_POLY1305": ("chacha", 32, 12, 0),
    "AES_128_CBC": ("cbc", 16, 16, 16),
    "AES_256_CBC": ("cbc", 32, 16, 16),
    "CAMELLIA_128_CBC": ("cbc", 16, 16, 16),
    "CAMELLIA_256_CBC": ("cbc", 32, 16, 16),
    "SEED_CBC": ("cbc", 16, 16, 16),
    "3DES_EDE_CBC": ("cbc", 24, 8, 8),
    "DES_CBC": ("cbc", 8, 8, 8),
    "IDEA_CBC": ("cbc", 16, 8, 8),
    "RC4_128": ("stream", 16, 0, 0),
    "NULL": ("null", 0, 0, 0),
    # the 40-bit export ciphers: 5 secret bytes in the key block, expanded to these keys
    # (RFC 2246 §6.3, RFC 6101 §6.2.2)
    "RC4_40": ("stream", 16, 0, 0),
    "RC2_CBC_40": ("cbc", 16, 8, 8),
    "DES40_CBC": ("cbc", 8, 8, 8),
}
EXPORT_KEY_MATERIAL = 5
#: SSL 3.0's MAC pads (RFC 6101 §5.2.3.1): 48 bytes for MD5, 40 for SHA-1
SSL3_PAD = {"md5": 48, "sha1": 40}
#: the block cipher of each CBC suite, by its name in cryptography (DES is TripleDES with
#: K1 = K2 = K3)
BLOCK_CIPHERS = {
    "AES_128_CBC": "AES", "AES_256_CBC": "AES", "CAMELLIA_128_CBC": "Camellia",
    "CAMELLIA_256_CBC": "Camellia", "SEED_CBC": "SEED", "3DES_EDE_CBC": "TripleDES",
    "DES_CBC": "TripleDES", "IDEA_CBC": "IDEA", "RC2_CBC_40": "RC2", "DES40_CBC": "TripleDES",
}
MAC_HASHES = {"SHA": "sha1", "SHA256": "sha256", "SHA384": "sha384", "MD5": "md5"}


class DecryptError(HandshakerError):
    """A record that does not decrypt or authenticate with these keys."""


class UnsupportedCipher(HandshakerError):
    """A suite whose cipher handshaker does not decrypt."""


# -- the PRF ------------------------------------------------------------------------------


def _p_hash(name: str, secret: bytes, seed: bytes, size: int) -> bytes:
    out = bytearray()
    a = seed
    while len(out) < size:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + seed, name).digest()
    return bytes(out[:size])


def prf_hash(version: int, suite: CipherSuite) -> str | None:
    """The PRF's hash for TLS 1.2 (None: the TLS 1.0/1.1 MD5+SHA-1 PRF)."""
    if version < TLS12:
        return None
    return "sha384" if suite.hash == "SHA384" else "sha256"


def prf(secret: bytes, label: bytes, seed: bytes, size: int, hash_name: str | None) -> bytes:
    """PRF(secret, label, seed) of ``size`` bytes; ``hash_name`` None: TLS 1.0/1.1's."""
    if hash_name is not None:
        return _p_hash(hash_name, secret, label + seed, size)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, size)
    sha = _p_hash("sha1", secret[len(secret) - half:], label + seed, size)
    return bytes(x ^ y for x, y in zip(md5, sha, strict=True))


# -- keys ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keys:
    """One side's keys from the key block (RFC 5246 §6.3)."""

    mac_key: bytes
    key: bytes
    iv: bytes


def cipher_of(suite: CipherSuite) -> tuple[str, int, int, int]:
    spec = CIPHERS.get(suite.cipher)
    if spec is None:
        raise UnsupportedCipher(f"{suite.name}: the {suite.cipher} cipher is not supported "
                                "for decryption")
    return spec


def key_block(master: bytes, client_random: bytes, server_random: bytes, suite: CipherSuite,
              version: int) -> tuple[Keys, Keys]:
    """(client write keys, server write keys) from the master secret."""
    _, key_len, iv_len, _ = cipher_of(suite)
    mac_len = 0 if suite.aead else hashlib.new(MAC_HASHES[suite.hash]).digest_size
    export = suite.export and suite.cipher in ("RC4_40", "RC2_CBC_40", "DES40_CBC")
    material, block_iv = (EXPORT_KEY_MATERIAL, 0) if export else (key_len, iv_len)
    size = 2 * (mac_len + material + block_iv)
    if version == SSL30:
        block = ssl3_key_block(master, client_random, server_random, size)
    else:
        block = prf(master, b"key expansion", server_random + client_random, size,
                    prf_hash(version, suite))
    p = 0

    def take(n: int) -> bytes:
        nonlocal p
        p += n
        return block[p - n:p]

    cmac, smac = take(mac_len), take(mac_len)
    ckey, skey = take(material), take(material)
    civ, siv = take(block_iv), take(block_iv)
    if export:
        cr, sr = client_random, server_random
        if version == SSL30:  # RFC 6101 §6.2.2
            ckey = hashlib.md5(ckey + cr + sr).digest()[:key_len]
            skey = hashlib.md5(skey + sr + cr).digest()[:key_len]
            civ = hashlib.md5(cr + sr).digest()[:iv_len]
            siv = hashlib.md5(sr + cr).digest()[:iv_len]
        else:  # RFC 2246 §6.3
            h = prf_hash(version, suite)
            ckey = prf(ckey, b"client write key", cr + sr, key_len, h)
            skey = prf(skey, b"server write key", cr + sr, key_len, h)
            ivs = prf(b"", b"IV block", cr + sr, 2 * iv_len, h)
            civ, siv = ivs[:iv_len], ivs[iv_len:]
    return Keys(cmac, ckey, civ), Keys(smac, skey, siv)


# -- SSL 3.0 (RFC 6101) -------------------------------------------------------------------


def _ssl3_expand(secret: bytes, seed: bytes, size: int) -> bytes:
    """MD5(secret + SHA1("A" + secret + seed)) + MD5(secret + SHA1("BB" + ...)) + ...:
    SSL 3.0's master secret and key block (RFC 6101 §6.1, §6.2.2)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        i += 1
        inner = hashlib.sha1(bytes([64 + i]) * i + secret + seed).digest()
        out += hashlib.md5(secret + inner).digest()
    return bytes(out[:size])


def ssl3_master_secret(pre_master: bytes, client_random: bytes, server_random: bytes
                       ) -> bytes:
    return _ssl3_expand(pre_master, client_random + server_random, 48)


def ssl3_key_block(master: bytes, client_random: bytes, server_random: bytes,
                   size: int) -> bytes:
    return _ssl3_expand(master, server_random + client_random, size)


def ssl3_finished(master: bytes, sender: str, transcript: bytes) -> bytes:
    """SSL 3.0's Finished: MD5 and SHA-1 hashes over the handshake, the sender ("CLNT",
    "SRVR") and the master secret, with the MAC pads (RFC 6101 §5.6.9)."""
    code = b"CLNT" if sender == "client" else b"SRVR"
    out = b""
    for name in ("md5", "sha1"):
        n = SSL3_PAD[name]
        inner = hashlib.new(name, transcript + code + master + b"\x36" * n).digest()
        out += hashlib.new(name, master + b"\x5c" * n + inner).digest()
    return out


def verify_data(master: bytes, sender: str, transcript: bytes, suite: CipherSuite,
                version: int) -> bytes:
    """The Finished's verify_data (``sender``: "client" or "server"): the PRF over the hash
    of every handshake message before it (TLS 1.0/1.1: MD5 and SHA-1 side by side)."""
    name = prf_hash(version, suite)
    if name is None:
        digest = hashlib.md5(transcript).digest() + hashlib.sha1(transcript).digest()
    else:
        digest = hashlib.new(name, transcript).digest()
    return prf(master, f"{sender} finished".encode(), digest, 12, name)


# -- records ------------------------------------------------------------------------------


def _xor_nonce(iv: bytes, seq: bytes) -> bytes:
    """The per-record nonce of RFC 7905 §2 and RFC 8446 §5.3: the 12-byte IV XOR the
    64-bit sequence number, padded on the left."""
    return bytes(a ^ b for a, b in zip(iv, bytes(4) + seq, strict=True))


def _cipher(name: str, key: bytes, iv: bytes | None) -> Any:
    """A cryptography Cipher: the suite's block cipher in CBC mode with ``iv``, or RC4."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.decrepit.ciphers import algorithms as old
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        if iv is None:
            return Cipher(old.ARC4(key), None)
        algorithm: Any = {"AES": algorithms.AES, "Camellia": old.Camellia, "SEED": old.SEED,
                          "TripleDES": old.TripleDES, "IDEA": old.IDEA,
                          "RC2": old.RC2}[BLOCK_CIPHERS[name]]
        if len(key) == 8:  # single DES: 3DES with K1 = K2 = K3
            key = key * 3
        return Cipher(algorithm(key), modes.CBC(iv))
    except UnsupportedAlgorithm:
        raise UnsupportedCipher(f"the {name} cipher is not available in this build of "
                                "OpenSSL (cryptography)") from None


def _aead_for(kind: str, key: bytes) -> object | None:
    """The AEAD of a cipher kind (None: not an AEAD)."""
    from cryptography.hazmat.primitives.ciphers import aead

    if kind == "gcm":
        return aead.AESGCM(key)
    if kind == "ccm":
        return aead.AESCCM(key)
    if kind == "ccm8":
        return aead.AESCCM(key, tag_length=8)
    if kind == "chacha":
        return aead.ChaCha20Poly1305(key)
    return None


class RecordDecryptor:
    """Decrypts one direction's records in order (each call takes the next sequence
    number, as the sender's does)."""

    def __init__(self, keys: Keys, suite: CipherSuite, version: int,
                 compression: int = 0, *, encrypt_then_mac: bool = False) -> None:
        self.kind, _, _, self.record_iv = cipher_of(suite)
        self.cipher = suite.cipher
        self.keys = keys
        self.version = version
        # RC4: one keystream for the whole direction
        self._stream = _cipher(self.cipher, keys.key, None).decryptor() \
            if self.kind == "stream" else None
        if self.kind == "cbc":  # the cipher is there (raises UnsupportedCipher if not)
            _cipher(self.cipher, keys.key, keys.iv)
        self.encrypt_then_mac = encrypt_then_mac  # RFC 7366, CBC suites only
        self.seq = 0
        self.mac_name = None if suite.aead else MAC_HASHES[suite.hash]
        self._aead = _aead_for(self.kind, keys.key)
        if compression not in (0, DEFLATE):
            raise UnsupportedCipher(f"compression method {compression} is not supported")
        # RFC 3749: one DEFLATE stream per direction, flushed at each record
        self._inflate = zlib.decompressobj() if compression == DEFLATE else None

    def decrypt(self, content_type: int, version: int, fragment: bytes) -> bytes:
        """The plaintext of the next record (raises :class:`DecryptError`)."""
        plain = self._decrypt(content_type, version, fragment)
        if self._inflate is None:
            return plain
        try:
            out = self._inflate.decompress(plain, MAX_INFLATED)
        except zlib.error as err:
            raise DecryptError(f"DEFLATE: {err}") from None
        if self._inflate.unconsumed_tail:
            raise DecryptError(f"DEFLATE: the record inflates past {MAX_INFLATED} bytes "
                               "(MAX_INFLATED)")
        return out

    def _decrypt(self, content_type: int, version: int, fragment: bytes) -> bytes:
        seq = self.seq
        self.seq += 1
        seq_bytes = seq.to_bytes(8, "big")
        if self._aead is not None:
            return self._decrypt_aead(seq_bytes, content_type, version, fragment)
        if self.kind == "null":
            return self._check_mac(seq_bytes, content_type, version, fragment)
        if self._stream is not None:
            return self._check_mac(seq_bytes, content_type, version,
                                   self._stream.update(fragment))
        return self._decrypt_cbc(seq_bytes, content_type, version, fragment)

    def _decrypt_aead(self, seq: bytes, ctype: int, version: int, fragment: bytes) -> bytes:
        tag = 8 if self.kind == "ccm8" else AEAD_TAG
        if self.kind == "chacha":
            nonce = _xor_nonce(self.keys.iv, seq)
            body = fragment
        else:
            nonce = self.keys.iv + fragment[:self.record_iv]
            body = fragment[self.record_iv:]
        if len(body) < tag:
            raise DecryptError(f"record of {len(fragment)} bytes is shorter than its tag")
        aad = seq + bytes([ctype]) + version.to_bytes(2, "big") + \
            (len(body) - tag).to_bytes(2, "big")
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(nonce, body, aad)  # type: ignore[attr-defined]
        except InvalidTag:
            raise DecryptError("the record does not authenticate with these keys") from None

    def _decrypt_cbc(self, seq: bytes, ctype: int, version: int, fragment: bytes) -> bytes:
        block = len(self.keys.iv)
        if self.encrypt_then_mac:  # RFC 7366 §3: the MAC covers the IV and the ciphertext
            fragment = self._check_mac(seq, ctype, version, fragment)
        if self.version >= TLS11:
            iv, body = fragment[:block], fragment[block:]
        else:
            iv, body = self.keys.iv, fragment
        if not body or len(body) % block:
            raise DecryptError(f"CBC record of {len(fragment)} bytes: not whole blocks")
        dec = _cipher(self.cipher, self.keys.key, iv).decryptor()
        plain = dec.update(body) + dec.finalize()
        if self.version < TLS11:  # TLS 1.0: the next record's IV is this one's last block
            self.keys = Keys(self.keys.mac_key, self.keys.key, body[-block:])
        pad = plain[-1] + 1
        if self.version == SSL30:  # RFC 6101 §5.2.3.2: any padding bytes, shorter than a block
            if pad > block or pad > len(plain):
                raise DecryptError("bad CBC padding: not these keys, or a damaged record")
        elif pad > len(plain) or plain[-pad:] != bytes([plain[-1]]) * pad:
            raise DecryptError("bad CBC padding: not these keys, or a damaged record")
        if self.encrypt_then_mac:
            return plain[:-pad]
        return self._check_mac(seq, ctype, version, plain[:-pad])

    def _check_mac(self, seq: bytes, ctype: int, version: int, data: bytes) -> bytes:
        if self.mac_name is None:
            return data
        n = hashlib.new(self.mac_name).digest_size
        if len(data) < n:
            raise DecryptError("record shorter than its MAC")
        content, mac = data[:-n], data[-n:]
        if self.version == SSL30:  # RFC 6101 §5.2.3.1: the pre-HMAC construction
            key, pads = self.keys.mac_key, SSL3_PAD[self.mac_name]
            inner = hashlib.new(self.mac_name, key + b"\x36" * pads + seq + bytes([ctype]) +
                                len(content).to_bytes(2, "big") + content).digest()
            want = hashlib.new(self.mac_name, key + b"\x5c" * pads + inner).digest()
        else:
            want = hmac.new(self.keys.mac_key, seq + bytes([ctype]) +
                            version.to_bytes(2, "big") + len(content).to_bytes(2, "big") +
                            content, self.mac_name).digest()
        if not hmac.compare_digest(mac, want):
            raise DecryptError("the record's MAC does not match: not these keys")
        return content


# -- TLS 1.3 (RFC 8446 §7) ----------------------------------------------------------------


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int,
                      hash_name: str) -> bytes:
    """RFC 8446 §7.1: HKDF-Expand(secret, HkdfLabel(length, "tls13 " + label, context))."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    out = bytearray()
    block = b""
    i = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return bytes(out[:length])


def tls13_hash(suite: CipherSuite) -> str:
    return "sha384" if suite.hash == "SHA384" else "sha256"


def tls13_keys(traffic_secret: bytes, suite: CipherSuite) -> Keys:
    """The write key and IV of a traffic secret (RFC 8446 §7.3)."""
    _, key_len, _, _ = cipher_of(suite)
    name = tls13_hash(suite)
    return Keys(b"", hkdf_expand_label(traffic_secret, "key", b"", key_len, name),
                hkdf_expand_label(traffic_secret, "iv", b"", 12, name))


def tls13_next_secret(traffic_secret: bytes, suite: CipherSuite) -> bytes:
    """The traffic secret after a KeyUpdate (RFC 8446 §7.2)."""
    name = tls13_hash(suite)
    return hkdf_expand_label(traffic_secret, "traffic upd", b"", hashlib.new(name).digest_size,
                             name)


def tls13_finished(traffic_secret: bytes, transcript: bytes, suite: CipherSuite) -> bytes:
    """The Finished's verify_data (RFC 8446 §4.4.4): HMAC over the transcript hash with the
    finished key of the sender's handshake traffic secret."""
    name = tls13_hash(suite)
    size = hashlib.new(name).digest_size
    finished_key = hkdf_expand_label(traffic_secret, "finished", b"", size, name)
    return hmac.new(finished_key, hashlib.new(name, transcript).digest(), name).digest()


class Tls13RecordDecryptor:
    """One direction's TLS 1.3 records under one traffic secret (RFC 8446 §5.2-5.3)."""

    def __init__(self, traffic_secret: bytes, suite: CipherSuite) -> None:
        self.kind, _, _, _ = cipher_of(suite)
        self.keys = tls13_keys(traffic_secret, suite)
        self.seq = 0
        self._aead = _aead_for(self.kind, self.keys.key)
        if self._aead is None:
            raise UnsupportedCipher(f"{suite.name}: not a TLS 1.3 AEAD")

    def decrypt(self, header: bytes, fragment: bytes) -> tuple[int, bytes]:
        """(inner content type, content) of the next record; ``header`` is its 5 bytes."""
        from cryptography.exceptions import InvalidTag

        nonce = _xor_nonce(self.keys.iv, self.seq.to_bytes(8, "big"))
        self.seq += 1
        try:
            inner = self._aead.decrypt(nonce, fragment, header)  # type: ignore[attr-defined]
        except InvalidTag:
            raise DecryptError("the record does not authenticate with these keys") from None
        end = len(inner)
        while end and inner[end - 1] == 0:  # zero padding after the real content type
            end -= 1
        if not end:
            raise DecryptError("a record of nothing but padding (no content type)")
        return inner[end - 1], bytes(inner[:end - 1])
