"""Decryption of sessions made here, between real peers, against what they sent and tshark.

Two kinds of peers on loopback, captured with tcpdump:

* the lab's scenarios (Python's ``ssl``, i.e. OpenSSL, with
  ``SSLContext.keylog_filename``): the decrypted bytes must be exactly the
  request and the response the lab's client and server wrote;
* ``openssl s_server -rev`` and ``openssl s_client -keylogfile``, for what
  Python's ``ssl`` cannot choose: each TLS 1.3 AEAD, CBC suites (OpenSSL
  negotiates encrypt-then-MAC, RFC 7366, and the extended master secret, RFC
  7627, by default), TLS 1.0 and 1.1, CCM, ChaCha20 in TLS 1.2, resumption
  by ticket with the RSA key alone. The client writes two lines; the server
  answers the first reversed and closes on the second ("CLOSE").

Every session must verify both Finished messages, and its decrypted bytes
must equal tshark's with the same keys (``-z follow,tls,raw``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import loopback
import pytest
from conftest import require, tshark_fields
from loopback import scenario_results
from test_tls_open import _by_direction, tshark_follow

from handshaker.analysis import analyze
from handshaker.lab.loopcap import capture_loopback, capture_possible
from handshaker.lab.peers import (
    REQUEST,
    RESPONSE,
    SNI,
    key_pem_path,
    keylog_path,
    pick_port,
)
from handshaker.tls.keys import load_rsa_key
from handshaker.tls.opener import KeyRing

Capture = Callable[[str], Path]
loopback_capture = loopback.loopback_capture  # the fixture

LAB = ["tls12_rsa", "tls12_ecdhe", "tls12_dhe", "tls12_ecdsa", "tls12_client_cert",
       "tls12_resume", "tls13", "tls13_resume", "tls13_client_cert", "tls13_hrr"]


def _sessions(pcap: Path, ring: KeyRing) -> list:
    return [c.tls for c in analyze(pcap, keys=ring).tcp if c.tls is not None]


def _keylog_ring(keylog: Path) -> KeyRing:
    ring = KeyRing()
    ring.keylog.add_file(keylog)
    return ring


def _check_against_tshark(pcap: Path, sessions: list, keys: list[str]) -> None:
    follow = tshark_follow(pcap, [s.stream for s in sessions], keys)
    for s in sessions:
        node0, theirs = follow[s.stream]
        mine = _by_direction(s)
        c, srv = (0, 1) if node0 == f"{s.client[0]}:{s.client[1]}" else (1, 0)
        assert (mine["c2s"], mine["s2c"]) == (theirs[c], theirs[srv]), s.stream


@pytest.mark.parametrize("name", LAB)
def test_lab_sessions_decrypt_to_what_was_sent(loopback_capture: Capture, name: str) -> None:
    pcap = loopback_capture(name)
    [result] = scenario_results(pcap)
    sessions = _sessions(pcap, _keylog_ring(keylog_path(pcap)))
    assert len(sessions) == len(result["connections"])
    for s in sessions:
        dec = s.decryption
        assert dec.ok and dec.finished_verified == {"client": True, "server": True}, dec
        assert dec.reason is None
        assert _by_direction(s) == {"c2s": REQUEST, "s2c": RESPONSE}
        # the TLS 1.3 encrypted flight is read like a clear one once decrypted
        types = [m.type for m in s.messages if m.decrypted]
        if s.version == "TLS 1.3":
            assert types[0] == "encrypted_extensions" and types.count("finished") == 2
            if not s.resumed:
                assert "certificate" in types and "certificate_verify" in types
                assert s.certificates and s.certificates[0]["subject_cn"] == SNI
        else:
            assert types.count("finished") == 2
    if name.endswith("resume"):
        assert sessions[1].resumed
    _check_against_tshark(pcap, sessions, ["-o", f"tls.keylog_file:{keylog_path(pcap)}"])


def test_lab_rsa_key_alone(loopback_capture: Capture) -> None:
    """RSA key exchange: the server's private key, and nothing else, opens it."""
    pcap = loopback_capture("tls12_rsa")
    ring = KeyRing(rsa_keys=[load_rsa_key(key_pem_path(pcap))])
    [s] = _sessions(pcap, ring)
    assert s.decryption.ok and s.decryption.key_source.startswith("RSA key ")
    assert _by_direction(s) == {"c2s": REQUEST, "s2c": RESPONSE}
    _check_against_tshark(pcap, [s], ["-o", "tls.keylog_file:", "-o",
                                      f'uat:rsa_keys:"{key_pem_path(pcap)}",""'])


def test_lab_secrets_block_is_used_without_options(loopback_capture: Capture,
                                                   tmp_path: Path) -> None:
    """The key log injected into the capture (editcap --inject-secrets) opens it alone."""
    require(shutil.which("editcap") is not None, "editcap (Wireshark) is not installed")
    pcap = loopback_capture("tls13")
    out = tmp_path / "with-secrets.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{keylog_path(pcap)}", str(pcap),
                    str(out)], check=True, capture_output=True)
    [s] = _sessions(out, KeyRing())
    assert s.decryption.ok and s.decryption.key_source == "pcapng secrets block 1"
    assert _by_direction(s) == {"c2s": REQUEST, "s2c": RESPONSE}


# -- openssl s_server / s_client ---------------------------------------------------------

LINES = b"hello, handshake\nCLOSE\n"
#: what s_server -rev answers: the first line reversed, then it closes on "CLOSE"
ANSWER = b"ekahsdnah ,olleh\n"

#: (id, s_server options, s_client options, connections, the RSA key alone opens it)
OPENSSL = [
    ("tls13-aes128-gcm", ["-ciphersuites", "TLS_AES_128_GCM_SHA256"], [], 1, False),
    ("tls13-aes256-gcm", ["-ciphersuites", "TLS_AES_256_GCM_SHA384"], [], 1, False),
    ("tls13-chacha20", ["-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"], [], 1, False),
    ("tls13-aes128-ccm", ["-ciphersuites", "TLS_AES_128_CCM_SHA256"],
     ["-ciphersuites", "TLS_AES_128_CCM_SHA256"], 1, False),
    ("tls13-aes128-ccm8", ["-ciphersuites", "TLS_AES_128_CCM_8_SHA256"],
     ["-ciphersuites", "TLS_AES_128_CCM_8_SHA256"], 1, False),
    ("tls13-hrr", ["-groups", "P-384"], [], 1, False),
    ("tls13-resume", [], [], 2, False),
    ("tls12-rsa-cbc-etm", ["-tls1_2", "-cipher", "AES128-SHA"], [], 1, True),
    ("tls12-rsa-cbc-sha256", ["-tls1_2", "-cipher", "AES256-SHA256"], [], 1, True),
    ("tls12-rsa-ccm", ["-tls1_2", "-cipher", "AES128-CCM"], ["-cipher", "AES128-CCM"], 1,
     True),
    ("tls12-rsa-ccm8", ["-tls1_2", "-cipher", "AES256-CCM8"], ["-cipher", "AES256-CCM8"], 1,
     True),
    ("tls12-rsa-resume", ["-tls1_2", "-cipher", "AES256-GCM-SHA384"], [], 2, True),
    ("tls12-ecdhe-chacha20", ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], [], 1,
     False),
    ("tls12-ecdhe-cbc-sha384", ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"], [], 1,
     False),
    ("tls12-dhe-gcm", ["-tls1_2", "-cipher", "DHE-RSA-AES256-GCM-SHA384"], [], 1, False),
    ("tls11-rsa-cbc", ["-tls1_1", "-cipher", "AES128-SHA:@SECLEVEL=0"],
     ["-cipher", "AES128-SHA:@SECLEVEL=0"], 1, True),
    ("tls10-ecdhe-cbc", ["-tls1", "-cipher", "ECDHE-RSA-AES256-SHA:@SECLEVEL=0"],
     ["-cipher", "ECDHE-RSA-AES256-SHA:@SECLEVEL=0"], 1, False),
]


@pytest.fixture(scope="module")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require(shutil.which("openssl") is not None, "the openssl command is not installed")
    d = tmp_path_factory.mktemp("openssl-pki")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-subj", "/CN=handshaker.test", "-days", "2"],
                   check=True, capture_output=True)
    return cert, key


def openssl_exchange(tmp: Path, pki: tuple[Path, Path], server_args: list[str],
                     client_args: list[str], connections: int) -> tuple[Path, Path]:
    """Capture ``connections`` s_client sessions with one s_server; (pcap, key log).
    Each later connection resumes the session of the one before (-sess_out/-sess_in)."""
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    pcap, keylog, sess = tmp / "openssl.pcap", tmp / "client.keylog", tmp / "session.pem"
    env = dict(os.environ, OPENSSL_CONF="/dev/null")  # no system policy in the way
    with capture_loopback(pcap, f"tcp port {port}"):
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", str(port), "-cert", str(pki[0]), "-key",
             str(pki[1]), "-naccept", str(connections), "-rev", *server_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env)
        try:
            assert server.stdout is not None
            while b"ACCEPT" not in server.stdout.readline():
                assert server.poll() is None, "s_server did not start"
            for i in range(connections):
                resume = ["-sess_in", str(sess)] if i else []
                got = subprocess.run(
                    ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet",
                     "-keylogfile", str(keylog), "-sess_out", str(sess), *resume,
                     *client_args], input=LINES, capture_output=True, timeout=20, env=env)
                assert got.stdout == ANSWER, got.stderr.decode(errors="replace")[-800:]
            server.wait(timeout=10)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        time.sleep(0.05)
    return pcap, keylog


@pytest.mark.parametrize(("server_args", "client_args", "connections", "rsa_alone"),
                         [pytest.param(*c[1:], id=c[0]) for c in OPENSSL])
def test_openssl_sessions(tmp_path: Path, openssl_pki: tuple[Path, Path],
                          server_args: list[str], client_args: list[str], connections: int,
                          rsa_alone: bool) -> None:
    pcap, keylog = openssl_exchange(tmp_path, openssl_pki, server_args, client_args,
                                    connections)
    ring = _keylog_ring(keylog)
    ring.explain = True
    sessions = _sessions(pcap, ring)
    assert len(sessions) == connections
    for s in sessions:
        dec = s.decryption
        assert dec.ok and dec.finished_verified == {"client": True, "server": True}, dec
        assert _by_direction(s) == {"c2s": LINES, "s2c": ANSWER}
    if connections > 1:
        assert sessions[1].resumed
    first = sessions[0]
    if first.version != "TLS 1.3" and rsa_alone:
        # with the RSA key: OpenSSL 3 negotiates the extended master secret (RFC 7627)
        found = _sessions(pcap, KeyRing(rsa_keys=[load_rsa_key(openssl_pki[1])],
                                        explain=True))
        assert found, f"no TLS session read again from {pcap}"
        alone = found[0]
        steps = {n.text(): m.text() for n, _, m in alone.decryption.steps}
        assert "extended master secret" in steps["master secret"]
    server_exts = tshark_fields(pcap, ["tls.handshake.extension.type"],
                                display_filter="tls.handshake.type == 2")
    if "CBC" in (first.cipher_suite_name or ""):
        assert server_exts, f"tshark read no ServerHello in {pcap} ({len(sessions)} sessions)"
        assert "22" in server_exts[0][0].split(",")  # encrypt_then_mac (RFC 7366) taken
    _check_against_tshark(pcap, sessions, ["-o", f"tls.keylog_file:{keylog}"])
    # the server's RSA key alone: opens RSA key exchange (and what resumes it), nothing else
    alone = _sessions(pcap, KeyRing(rsa_keys=[load_rsa_key(openssl_pki[1])]))
    for s in alone:
        assert s.decryption.ok == rsa_alone, s.decryption
        if rsa_alone:
            assert _by_direction(s) == {"c2s": LINES, "s2c": ANSWER}
        else:
            assert "forward secrecy" in s.decryption.reason and not s.data


def test_openssl_early_data(tmp_path: Path, openssl_pki: tuple[Path, Path]) -> None:
    """TLS 1.3 0-RTT: the second connection resumes the first and sends early data under
    the client early traffic secret (RFC 8446 §2.3); it decrypts to what was sent."""
    ok, why = capture_possible()
    require(ok, why)
    port = pick_port()
    pcap, keylog, sess = tmp_path / "early.pcap", tmp_path / "client.keylog", tmp_path / "s"
    early = tmp_path / "early.txt"
    early.write_bytes(b"EARLY DATA, 0-RTT\n")
    env = dict(os.environ, OPENSSL_CONF="/dev/null")
    with capture_loopback(pcap, f"tcp port {port}"):
        server = subprocess.Popen(
            ["openssl", "s_server", "-accept", str(port), "-cert", str(openssl_pki[0]),
             "-key", str(openssl_pki[1]), "-naccept", "2", "-early_data"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            assert server.stdout is not None
            while b"ACCEPT" not in server.stdout.readline():
                assert server.poll() is None, "s_server did not start"
            for line, more in ((b"first\n", []), (b"second\n", ["-sess_in", str(sess),
                                                               "-early_data", str(early)])):
                # without -quiet s_client ends at the end of its input: keep the input open
                # until the server's session tickets have come
                client = subprocess.Popen(
                    ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-keylogfile",
                     str(keylog), "-sess_out", str(sess), *more],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    env=env)
                assert client.stdin is not None
                client.stdin.write(line)
                client.stdin.flush()
                time.sleep(0.5)
                client.stdin.close()
                assert client.stdout is not None
                out = client.stdout.read()  # to its end: s_client has quit
                client.wait(timeout=20)
            assert b"Early data was accepted" in out, out[-800:]
        finally:
            server.kill()
            server.wait()
        time.sleep(0.05)
    first, second = _sessions(pcap, _keylog_ring(keylog))
    assert _by_direction(first) == {"c2s": b"first\n", "s2c": b""}
    assert second.resumed and second.decryption.ok, second.decryption
    assert _by_direction(second) == {"c2s": early.read_bytes() + b"second\n", "s2c": b""}
    assert "end_of_early_data" in [m.type for m in second.messages if m.decrypted]
    _check_against_tshark(pcap, [first, second], ["-o", f"tls.keylog_file:{keylog}"])
