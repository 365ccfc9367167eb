"""Decrypting whole sessions (tls/opener.py) through the observer, against tshark.

For every corpus capture with keys (a key log, or the server's RSA key), the
application data handshaker decrypts must equal, byte for byte and per
direction, what tshark decrypts with the same keys (``-z follow,tls,raw``);
a session counts as decrypted only when its Finished messages verify. The
sessions neither decrypts, and the ones only tshark does (ciphers handshaker
does not implement), are named with the reason handshaker gives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import _TSHARK_CONF, CORPUS, require
from test_tls_sessions import KEYLOGS

from handshaker.analysis import analyze
from handshaker.cli import main
from handshaker.tls.keys import load_rsa_key
from handshaker.tls.opener import KeyRing

#: every corpus capture with keys of its own, but SSL 3.0 (not decrypted: see EXPECTED)
KEYED = {rel: key for rel, key in KEYLOGS.items() if key}

#: capture -> sessions that decrypt with their Finished verified (MANIFEST.md: what tshark
#: decrypts); where a session does not, the words its reason must contain
EXPECTED: dict[str, tuple[int, dict[int, str]]] = {
    "junkie/https/dokuwiki.pcap": (2, {}),  # the second by the first's ticket (RFC 5077)
    "junkie/https/mycorp_with_sessions.pcap": (2, {}),  # the second by the first's secret
    "lekensteyn/ssl3/ssl3.pcapng": (39, {}),  # SSL 3.0, 40-bit export ciphers included
    "scapy/tls_nss_example.pcap": (2, {}),
}
#: lekensteyn/all: 73 suites, one session each, all decrypted
ALL_SESSIONS = 73


def _ring(rel: str, **kw: Any) -> KeyRing:
    ring = KeyRing(**kw)
    key = KEYED[rel]
    if key.endswith(".pem"):
        ring.rsa_keys.append(load_rsa_key(CORPUS / key))
    else:
        ring.keylog.add_file(CORPUS / key)
    return ring


def ours(path: Path, ring: KeyRing) -> dict[int, Any]:
    """stream -> its TlsSession, decrypted with ``ring``."""
    return {c.stream: c.tls for c in analyze(path, keys=ring).tcp if c.tls is not None}


def _tshark_keys(rel: str) -> list[str]:
    key = (CORPUS / KEYED[rel]).resolve()
    if KEYED[rel].endswith(".pem"):
        return ["-o", "tls.keylog_file:", "-o", f'uat:rsa_keys:"{key}",""']
    return ["-o", f"tls.keylog_file:{key}"]


def tshark_follow(path: Path, streams: list[int], keys: list[str], proto: str = "tls"
                  ) -> dict[int, tuple[str, dict[int, bytes]]]:
    """stream -> (node 0's "ip:port", {node: the bytes tshark decrypted from it})."""
    require(shutil.which("tshark") is not None, "tshark is not installed")
    cmd = ["tshark", "-n", "-r", str(path), "-q", *keys]
    for n in streams:
        cmd += ["-z", f"follow,{proto},raw,{n}"]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_TSHARK_CONF)
    text = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    out: dict[int, tuple[str, dict[int, bytes]]] = {}
    for block in text.split(f"Follow: {proto},raw")[1:]:
        lines = block.split("\n")
        stream = int(lines[1].rsplit(" ", 1)[1])  # Filter: tcp.stream eq N
        node0 = lines[2].split(": ", 1)[1]
        data = {0: bytearray(), 1: bytearray()}
        for line in lines[4:]:
            if line.startswith("====="):
                break
            if line.strip():
                data[1 if line.startswith("\t") else 0] += bytes.fromhex(line.strip())
        out[stream] = (node0, {k: bytes(v) for k, v in data.items()})
    return out


def _by_direction(session: Any) -> dict[str, bytes]:
    got = {"c2s": bytearray(), "s2c": bytearray()}
    for d, _, _, data in session.data:
        got["c2s" if d == session.client_dir else "s2c"] += data
    return {k: bytes(v) for k, v in got.items()}


@pytest.mark.parametrize("rel", sorted(KEYED))
def test_decrypted_data_equals_tshark(rel: str) -> None:
    path = CORPUS / rel
    require(path.is_file(), f"{rel} is missing")
    sessions = ours(path, _ring(rel))
    follow = tshark_follow(path, sorted(sessions), _tshark_keys(rel))
    want_ok, reasons = EXPECTED.get(rel, (1, {}))
    verified = 0
    for n, s in sessions.items():
        dec = s.decryption
        assert dec is not None, f"{rel} stream {n}: no decryption outcome"
        node0, theirs = follow.get(n, ("", {0: b"", 1: b""}))
        mine = _by_direction(s)
        client = f"{s.client[0]}:{s.client[1]}"
        tshark_dirs = {"c2s": theirs[0], "s2c": theirs[1]} if node0 == client or not \
            theirs[1] else {"c2s": theirs[1], "s2c": theirs[0]}
        if dec.ok:
            verified += 1
            assert all(dec.finished_verified[w] for w in ("client", "server")), (n, dec)
            assert mine == tshark_dirs, f"{rel} stream {n}: decrypted data differs from tshark's"
            continue
        assert dec.reason, f"{rel} stream {n}: not decrypted and no reason"
        assert reasons.get(n, "\0") in dec.reason, (n, dec.reason)
        assert not any(tshark_dirs.values()), f"{rel} stream {n}: tshark decrypts it"
    assert verified == (ALL_SESSIONS if rel == "lekensteyn/all/all.pcapng" else want_ok), rel


# -- why a session is not decrypted ----------------------------------------------------------


def _only_reason(path: Path, ring: KeyRing) -> list[str]:
    return [s.decryption.reason for s in ours(path, ring).values()]


def test_rsa_key_cannot_open_ecdhe_or_tls13() -> None:
    """The server's own RSA key, which matches its certificate, opens neither its ECDHE
    TLS 1.2 session nor its TLS 1.3 one: forward secrecy, said so."""
    rel = "scapy/tls_nss_example.pcap"
    ring = KeyRing(rsa_keys=[load_rsa_key(CORPUS / "scapy/tls_nss_example.srv_key.pem")])
    sessions = ours(CORPUS / rel, ring)
    assert [s.version for s in sessions.values()] == ["TLS 1.2", "TLS 1.3"]
    for s in sessions.values():
        assert s.decryption is not None and not s.decryption.ok
        assert "forward secrecy" in s.decryption.reason
        assert not s.data
    assert "ECDHE key exchange" in sessions[0].decryption.reason
    assert "TLS 1.3" in sessions[1].decryption.reason


def test_wrong_rsa_key_does_not_match() -> None:
    """Another server's key: named as not matching the certificate, nothing decrypted."""
    ring = KeyRing(rsa_keys=[load_rsa_key(CORPUS / "junkie/https/dokuwiki.pem")])
    [reason] = _only_reason(CORPUS / "junkie/https/mycorp.pcap", ring)
    assert "do not match this server's certificate" in reason


def test_key_log_without_this_session() -> None:
    ring = KeyRing()
    ring.keylog.add_file(CORPUS / "ssldump/log.txt")
    reasons = _only_reason(CORPUS / "scapy/tls_nss_example.pcap", ring)
    assert "no CLIENT_RANDOM line for client random" in reasons[0]
    assert "has no secrets for client random" in reasons[1]


def test_wrong_master_secret_fails_finished(tmp_path: Path) -> None:
    """A key log line with a wrong secret for the right client random: the records do not
    authenticate, the session is not counted as decrypted and says why."""
    text = (CORPUS / "scapy/tls_tcp_frag_withnss.DERIVED-from-uts.keylog").read_text()
    label, rnd, _ = next(line.split() for line in text.splitlines()
                              if line.startswith("CLIENT_RANDOM"))
    bad = tmp_path / "bad.keylog"
    bad.write_text(f"{label} {rnd} {'00' * 48}\n")
    ring = KeyRing()
    ring.keylog.add_file(bad)
    [s] = ours(CORPUS / "scapy/tls_tcp_frag_withnss.pcap.gz", ring).values()
    assert not s.decryption.ok and not s.data
    assert "does not decrypt" in s.decryption.reason


def test_truncated_key_log_is_reported_not_fatal(tmp_path: Path) -> None:
    """A key log cut in the middle of its last line (the TLS 1.3 client's application
    traffic secret): that line is reported with its number; the TLS 1.2 session opens, and
    the TLS 1.3 one opens up to the client's application data, which is said."""
    text = (CORPUS / "scapy/tls_nss_example.keys.txt").read_bytes()
    cut = tmp_path / "cut.keylog"
    cut.write_bytes(text[:len(text) - 20])
    ring = KeyRing()
    ring.keylog.add_file(cut)
    assert any(f"{cut} line" in p for p in ring.keylog.problems), ring.keylog.problems
    sessions = ours(CORPUS / "scapy/tls_nss_example.pcap", ring)
    assert sessions[0].decryption.ok and sessions[0].decryption.reason is None
    tls13 = sessions[1]
    assert tls13.decryption.ok  # both Finished verify with the handshake secrets
    assert "no CLIENT_TRAFFIC_SECRET_0" in tls13.decryption.reason
    got = _by_direction(tls13)
    assert not got["c2s"] and got["s2c"]


def test_corrupt_record_names_it(tmp_path: Path) -> None:
    """One byte flipped in an encrypted record: that side stops decrypting with a reason
    naming the record; the other side and the rest of the analysis go on."""
    rel = "zeek/tls/tls12-decryption.pcap"
    raw = bytearray((CORPUS / rel).read_bytes())
    # the last server application data record: flip a byte of its ciphertext near its end
    ring = _ring(rel)
    [s] = ours(CORPUS / rel, ring).values()
    last = max(f for d, f, _, _ in s.data if d != s.client_dir)
    offset = _frame_end_offset(CORPUS / rel, last)
    raw[offset - 3] ^= 0xFF
    bad = tmp_path / "flipped.pcap"
    bad.write_bytes(bytes(raw))
    [s2] = ours(bad, _ring(rel)).values()
    assert "does not decrypt" in s2.decryption.reason and "server" in s2.decryption.reason
    assert s2.decryption.ok  # both Finished verified before the damage
    assert _by_direction(s2)["c2s"] == _by_direction(s)["c2s"]
    assert len(_by_direction(s2)["s2c"]) < len(_by_direction(s)["s2c"])


def _frame_end_offset(path: Path, frame: int) -> int:
    """Byte offset just past frame ``frame``'s data in a classic pcap file."""
    data = path.read_bytes()
    off, n = 24, 0
    while off < len(data):
        caplen = int.from_bytes(data[off + 8:off + 12], "little")
        n += 1
        if n == frame:
            return off + 16 + caplen
        off += 16 + caplen
    raise AssertionError(f"no frame {frame}")


# -- the command -------------------------------------------------------------------------


def test_cli_json_with_keys(capsys: pytest.CaptureFixture[str]) -> None:
    rel = "scapy/tls_nss_example.pcap"
    code = main(["tls", str(CORPUS / rel), "--keylog", str(CORPUS / KEYED[rel]),
                 "--format", "json", "--data", "text"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    for s in doc["sessions"]:
        assert s["decrypted"]["ok"] and s["decrypted"]["finished_verified"] == {
            "client": True, "server": True}
        assert s["decrypted"]["key_source"].endswith("tls_nss_example.keys.txt")
        assert "key_derivation" not in s["decrypted"]  # secrets only when asked
        assert s["data"][0]["dir"] == "c2s" and s["data"][0]["text"].startswith("GET ")
        assert any(m["decrypted"] for m in s["messages"])


def test_cli_explain_keys_tls12(capsys: pytest.CaptureFixture[str]) -> None:
    rel = "junkie/https/mycorp.pcap"
    code = main(["tls", str(CORPUS / rel), "--rsa-key", str(CORPUS / KEYED[rel]),
                 "--format", "json", "--explain-keys"])
    assert code == 0
    [s] = json.loads(capsys.readouterr().out)["sessions"]
    steps = {st["name"]: st["value"] for st in s["decrypted"]["key_derivation"]}
    names = list(steps)
    assert names[:5] == ["client random", "server random", "encrypted pre-master secret",
                         "pre-master secret", "master secret"]
    assert len(bytes.fromhex(steps["pre-master secret"])) == 48
    assert steps["pre-master secret"].startswith("0301")  # the client's version, TLS 1.0
    assert {"client write key", "server write key", "client MAC key"} <= set(names)
    zh = {st["name_zh"]: st["meaning_zh"] for st in s["decrypted"]["key_derivation"]}
    assert "预主密钥" in zh and "主密钥" in zh and "客户端写密钥" in zh
    assert "用服务器的私钥解密" in zh["预主密钥"]


def test_cli_raw_data_is_the_plaintext(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    rel = "junkie/https/mycorp.pcap"
    main(["tls", str(CORPUS / rel), "--rsa-key", str(CORPUS / KEYED[rel]), "--data", "raw"])
    out = capsysbinary.readouterr().out
    assert out.startswith(b"GET / HTTP/1.1\r\n") and b"HTTP/1.1 304 Not Modified" in out


def test_write_plain_is_a_capture_tshark_reads(tmp_path: Path) -> None:
    """--write-plain: every decrypted stream as a clean TCP conversation; tshark follows it
    to the same bytes, and handshaker reads it back as a complete connection."""
    rel = "lekensteyn/tls/http2-16-ssl.pcapng"
    out = tmp_path / "plain.pcapng"
    assert main(["tls", str(CORPUS / rel), "--keylog", str(CORPUS / KEYED[rel]), "-q",
                 "--write-plain", str(out)]) == 0
    [s] = [s for s in ours(CORPUS / rel, _ring(rel)).values() if s.data]
    want = _by_direction(s)
    node0, got = tshark_follow(out, [0], [], "tcp")[0]
    assert node0 == f"{s.client[0]}:{s.client[1]}"
    assert (got[0], got[1]) == (want["c2s"], want["s2c"])
    [c] = analyze(out).tcp
    assert c.handshake["state"] == "complete" and c.close["kind"] == "four_way"
    assert (c.client.ip, c.client.port) == s.client and c.bytes_c2s == len(want["c2s"])


def _editcap_frames(src: Path, out: Path, frames: str) -> Path:
    require(shutil.which("editcap") is not None, "editcap (Wireshark) is not installed")
    subprocess.run(["editcap", "-r", str(src), str(out), frames], check=True,
                   capture_output=True)
    return out


def test_resumed_session_without_its_original(tmp_path: Path) -> None:
    """dokuwiki's second connection resumes the first by ticket; cut the first away and
    the RSA key has nothing to decrypt: the reason says so."""
    rel = "junkie/https/dokuwiki.pcap"
    cut = _editcap_frames(CORPUS / rel, tmp_path / "resumed-only.pcap", "15-106")
    [s] = ours(cut, _ring(rel)).values()
    assert s.resumed and not s.decryption.ok and not s.data
    assert "a resumed session" in s.decryption.reason


def test_capture_without_the_handshake(tmp_path: Path) -> None:
    rel = "junkie/https/mycorp.pcap"
    cut = _editcap_frames(CORPUS / rel, tmp_path / "no-handshake.pcap", "10-16")
    [s] = ours(cut, _ring(rel)).values()
    assert not s.decryption.ok
    assert "the capture begins after the handshake" in s.decryption.reason


def test_secrets_only_with_explain_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """No secret of the key log reaches the output unless --explain-keys asks for them."""
    rel = "ssldump/tls1.3_aes128.pcap"
    log = (CORPUS / KEYED[rel]).read_text()
    secrets = {line.split()[2] for line in log.splitlines() if line.count(" ") == 2}
    for fmt in ("json", "text"):
        assert main(["tls", str(CORPUS / rel), "--keylog", str(CORPUS / KEYED[rel]),
                     "--format", fmt, "--data", "hex"]) == 0
        out = capsys.readouterr().out
        assert "decrypted" in out and not any(x in out for x in secrets)
    assert main(["tls", str(CORPUS / rel), "--keylog", str(CORPUS / KEYED[rel]),
                 "--format", "json", "--explain-keys"]) == 0
    [s] = json.loads(capsys.readouterr().out)["sessions"]
    steps = [(st["name"], st["value"]) for st in s["decrypted"]["key_derivation"]]
    names = [n for n, _ in steps]
    assert names.index("early secret") < names.index("handshake secret") < \
        names.index("client handshake traffic secret") < names.index("master secret") < \
        names.index("client application traffic secret")
    # RFC 8448 §3: with no PSK the early secret of a SHA-256 suite is this constant
    assert dict(steps)["early secret"] == \
        "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
    assert dict(steps)["server handshake traffic secret"] in secrets
    assert dict(steps)["(EC)DHE shared secret"] == "not in any packet"


def test_encrypted_rsa_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives import serialization

    rel = "junkie/https/mycorp.pcap"
    key = load_rsa_key(CORPUS / KEYED[rel]).key
    enc = tmp_path / "enc.pem"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"s3cret")))
    args = ["tls", str(CORPUS / rel), "--rsa-key", str(enc), "--format", "json"]
    assert main([*args, "--rsa-key-password", "s3cret"]) == 0
    [s] = json.loads(capsys.readouterr().out)["sessions"]
    assert s["decrypted"]["ok"] and s["decrypted"]["key_source"] == f"RSA key {enc}"
    assert main([*args, "--rsa-key-password", "wrong"]) == 2
    err = capsys.readouterr().err
    assert "wrong password" in err and "s3cret" not in err and err.count("\n") == 1
    assert main(args) == 2  # no password, no terminal to ask on
    assert "give its password" in capsys.readouterr().err


def test_decrypted_text_is_made_safe_for_a_terminal() -> None:
    """Decrypted bytes are untrusted: escape sequences and other control characters are
    shown as dots, line breaks and tabs kept."""
    from handshaker.render.tls_text import clean_keep_lines

    evil = "GET /\x1b[2J\x1b]0;owned\x07 HTTP/1.1\r\nX:\ta\x9b1m\r\n"
    out = clean_keep_lines(evil)
    assert out == "GET /.[2J.]0;owned. HTTP/1.1\nX:\ta.1m\n"
    assert not any(ord(c) < 32 and c not in "\n\t" for c in out)
