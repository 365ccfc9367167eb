"""TLS sessions (``TcpSummary.tls``) against tshark 4.0, per TCP stream, in both modes.

For every corpus capture and for real OpenSSL peers on loopback
(``handshaker.lab.peers``), ``analyze(path)`` (light: the observer stops as
soon as the summary's facts are known) and ``analyze(path, tls_detail=True)``
(every record to the end of the stream) must give, per TCP stream, what
tshark shows:

* version (supported_versions of the ServerHello, else server_version), the
  cipher suite, SNI and ALPN offered (first ClientHello), ALPN selected
  (ServerHello; encrypted in TLS 1.3), the group (ServerKeyExchange's named
  curve or DH prime for TLS <= 1.2, the key_share for TLS 1.3), JA3, JA3S,
  resumption (session id echo, abbreviated handshake, TLS 1.3 PSK),
  HelloRetryRequest and its group, client authentication
  (CertificateRequest + a client Certificate), alerts;
* the key-exchange class, derived here from the suite *name* tshark gives
  (``tshark -G values``) and the TLS 1.3 extensions, and forward secrecy;
* in detail mode every record: frame, direction and what it is, against
  tshark's records (``-T json``, one tree per record); the server's
  certificates (SHA-256 of tshark's DER, subject as openssl prints it);
* timing: the frames' times relative to the stream's first packet
  (tshark's ``tcp.time_relative``).

Records that are encrypted are only labelled by the observer's heuristics
(TLS <= 1.2: the first encrypted handshake record after a ChangeCipherSpec
is a Finished; TLS 1.3: the server's records before the client's Finished
are its encrypted handshake, the client's flight is told apart by record
sizes, a record of an alert's size is an alert). Where the corpus or the
lab has key material (key logs, RSA keys, pcapng secrets), tshark decrypts
them and tells what each one really is: the labels are checked against that.

Light mode must stop following a stream once its facts are known: the last
segment it is fed is the one that completed the last fact; its facts equal
detail mode's and its messages are a prefix of detail mode's.

The lab scenarios (one capture of them all) must also keep their promises:
RSA/ECDHE/DHE/ECDSA suites and key exchanges, a resumed second connection
(ticket; PSK), a HelloRetryRequest to P-256, client certificates (TLS 1.2
and 1.3), and the alert OpenSSL's server says it received.

Where tshark differs from us on purpose, ``KNOWN_DIFFERENCES`` names the
capture, the streams, the fields and why. tshark's output is cached in
pytest's cache like tests/test_tls_corpus.py does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import loopback
import pytest
from conftest import _TSHARK_CONF, CORPUS, corpus_captures, corpus_ids, require
from loopback import scenario_results
from test_tls_certs import openssl_view
from test_tls_corpus import _tshark_version, without_secrets

from handshaker.analysis import Analysis, analyze
from handshaker.tls.observer import TlsObserver
from handshaker.tls.registry import group_name, version_name
from handshaker.tls.session import TlsSession

# The session fixture, made visible to this module's tests.
loopback_capture = loopback.loopback_capture

HRR_RANDOM = ("cf:21:ad:74:e5:9a:61:11:be:1d:8c:02:1e:65:b8:91:"
              "c2:a2:11:16:7a:bb:8c:5e:07:9e:09:e2:c8:a8:33:9c")

# Our names for handshake types (RFC 8446 §4, RFC 5246 §7.4), written here, not imported.
HANDSHAKE_NAMES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 4: "new_session_ticket",
    5: "end_of_early_data", 8: "encrypted_extensions", 11: "certificate",
    12: "server_key_exchange", 13: "certificate_request", 14: "server_hello_done",
    15: "certificate_verify", 16: "client_key_exchange", 20: "finished",
    22: "certificate_status", 24: "key_update", 25: "compressed_certificate",
}
SSLV2_NAMES = {1: "sslv2_client_hello", 2: "sslv2_client_master_key",
               3: "sslv2_client_finished", 4: "sslv2_server_hello", 5: "sslv2_server_verify",
               6: "sslv2_server_finished"}

FACTS = ["version", "cipher_suite", "sni", "alpn_offered", "alpn_selected", "group", "ja3",
         "ja3s", "resumed", "resumption", "hello_retry", "hello_retry_group", "client_auth",
         "key_exchange", "forward_secrecy", "alerts"]

# capture -> [(streams, fields, why)]: only there may tshark's values and ours differ
KNOWN_DIFFERENCES: dict[str, list[tuple[frozenset[int], frozenset[str], str]]] = {
    "lekensteyn/tls/tls-null.pcapng": [(
        frozenset({0}), frozenset({"messages", "alerts"}),
        "NULL cipher (TLS_RSA_WITH_NULL_SHA256): tshark reads the Finished and the alert "
        "after ChangeCipherSpec in the clear; we call every record after CCS encrypted")],
    "zeek/tls/dhe.pcap": [(
        frozenset({0}), frozenset({"messages"}),
        "frame 15 retransmits frame 14's 69 bytes and adds 53 new ones (a whole record); "
        "tshark does not dissect a retransmission, the reassembler keeps its new bytes "
        "(see tests/test_tls_corpus.py)")],
    "zeek/tls/hrr.pcap": [(
        frozenset({0}), frozenset({"messages", "version", "cipher_suite", "group", "ja3s",
                                   "key_exchange", "forward_secrecy", "timing"}),
        "frame 9 (seq 1468) comes before frame 11 (seq 100) fills the hole before it; tshark "
        "4.0 does not reassemble out-of-order segments by default and never reads the "
        "ServerHello after the HelloRetryRequest; we do (see tests/test_tls_corpus.py)")],
    "zeek/tls/tls-fragmented-handshake.pcap.gz": [(
        frozenset({0}), frozenset({"messages", "certificates"}),
        "a 339 KB Certificate (10,000 SANs) over 21 records: tshark 4.0 shows no handshake "
        "message where it ends; we reassemble it (see tests/test_tls_corpus.py)")],
}
# The key material the corpus ships (MANIFEST.md), for the check of encrypted records'
# labels; pcapng files with a Decryption Secrets Block need none.
KEYLOGS = {
    "ssldump/tls1.2_aes256.pcap": "ssldump/log.txt",
    "ssldump/tls1.3_aes128.pcap": "ssldump/log.txt",
    "ssldump/tls1.3_ccm8.pcap": "ssldump/log.txt",
    "ssldump/tls1.3_curl_google.pcap": "ssldump/log.txt",
    "ssldump/tls1.3_keyupdates_aes256.pcap": "ssldump/log.txt",
    "ssldump/tls1.3_session_resumption.pcap": "ssldump/log.txt",
    "scapy/tls_nss_example.pcap": "scapy/tls_nss_example.keys.txt",
    "scapy/tls_tcp_frag_withnss.pcap.gz": "scapy/tls_tcp_frag_withnss.DERIVED-from-uts.keylog",
    "zeek/tls/tls12-decryption.pcap": "zeek/tls/tls12-decryption.DERIVED.keylog",
    "zeek/tls/tls-1.2-stream-keylog.pcap": "zeek/tls/tls-1.2-stream-keylog.DERIVED.keylog",
    "lekensteyn/tls/http2-16-ssl.pcapng": "lekensteyn/tls/http2-16-ssl.DERIVED-from-comment.keylog",
    "lekensteyn/tls/imap-ssl.pcapng": "lekensteyn/tls/imap-ssl.DERIVED-from-comment.keylog",
    "lekensteyn/tls/mysql-ssl.pcapng": "lekensteyn/tls/mysql-ssl.DERIVED-from-comment.keylog",
    "lekensteyn/tls/smtp-ssl.pcapng": "lekensteyn/tls/smtp-ssl.DERIVED-from-comment.keylog",
    "lekensteyn/all/all.pcapng": "lekensteyn/all/all.premaster.txt",
    "lekensteyn/ssl3/ssl3.pcapng": "lekensteyn/ssl3/ssl3.premaster.txt",
    # RSA key exchange: the server's key opens the sessions (and those resumed from them)
    "junkie/https/dokuwiki.pcap": "junkie/https/dokuwiki.pem",
    "junkie/https/mycorp.pcap": "junkie/https/mycorp.pem",
    "junkie/https/mycorp_with_sessions.pcap": "junkie/https/mycorp_with_sessions.pem",
    "ja4/chrome-cloudflare-quic-with-secrets.pcapng": "",
    "ja4/http2-with-cookies.pcapng": "",
}


def _allowed(rel: str, stream: int, name: str) -> bool:
    return any(stream in streams and name in fields
               for streams, fields, _ in KNOWN_DIFFERENCES.get(rel, []))


# -- tshark's side ----------------------------------------------------------------------

# tshark field -> our short key, for the handshake messages
HS_FIELDS = {
    "tls.handshake.type": "type", "tls.handshake.version": "version",
    "tls.handshake.random": "random", "tls.handshake.session_id": "session_id",
    "tls.handshake.ciphersuite": "suite",
    "tls.handshake.extensions.supported_version": "sv",
    "tls.handshake.extensions_server_name": "sni",
    "tls.handshake.extensions_alpn_str": "alpn",
    "tls.handshake.extensions_key_share_group": "ks",
    "tls.handshake.extensions_key_share_selected_group": "ks_sel",
    "tls.handshake.server_curve_type": "curve_type",
    "tls.handshake.server_named_curve": "curve", "tls.handshake.p_len": "p_len",
    "tls.handshake.ja3": "ja3", "tls.handshake.ja3s": "ja3s",
    "tls.handshake.extensions.psk.identity.selected": "psk_sel",
    "tls.handshake.certificate": "certs", "tls.handshake.certificates_length": "certs_len",
}
REDUCTION = 4  # bump when the reduced form below changes (it is cached)


def _collect(node: Any, wanted: dict[str, str], out: dict[str, list[str]]) -> None:
    """Every value of the wanted fields in a tshark JSON subtree, in document order."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in wanted and not isinstance(v, dict):
                vals = v if isinstance(v, list) else [v]
                out.setdefault(wanted[k], []).extend(x for x in vals if isinstance(x, str))
            else:
                _collect(v, wanted, out)
    elif isinstance(node, list):
        for x in node:
            _collect(x, wanted, out)


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _handshake(h: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, list[str]] = {}
    _collect(h, HS_FIELDS, out)
    m: dict[str, Any] = dict(out)
    for k, v in h.items():
        # RFC 5077: a non-empty SessionTicket extension in the ClientHello carries a ticket
        if k.startswith("Extension: session_ticket") and isinstance(v, dict):
            m["ticket_len"] = int(v.get("tls.handshake.extension.len", "0"))
    return m


def _record(r: dict[str, Any]) -> dict[str, Any]:
    """One record tree -> {ct, opaque, hs: [...] | "" (bare: encrypted or a fragment),
    alert: [level, desc] | "enc", v2: SSLv2 type (-1 encrypted)}."""
    out: dict[str, Any] = {}
    if "tls.record.content_type" in r:
        out["ct"] = int(r["tls.record.content_type"])
    if "tls.record.opaque_type" in r:
        out["opaque"] = int(r["tls.record.opaque_type"])
    if "ct" not in out and "opaque" not in out:
        if r.get("tls.record.version") == "0x0002" or "tls.handshake.type" in r:
            t = r.get("tls.handshake.type")
            out["v2"] = int(t) if isinstance(t, str) else -1
            if isinstance(r.get("tls.handshake.cipherspec"), str):  # CLIENT-MASTER-KEY
                out["cipherspec"] = _int(r["tls.handshake.cipherspec"])
            if isinstance(r.get("tls.handshake.certificate"), str):  # SERVER-HELLO
                out["certs"] = [r["tls.handshake.certificate"]]
        return out
    hs = r.get("tls.handshake")
    if isinstance(hs, str):
        out["hs"] = ""
    elif hs is not None:
        out["hs"] = [_handshake(h) for h in _as_list(hs) if isinstance(h, dict)]
    al = r.get("tls.alert_message")
    if isinstance(al, dict):
        out["alert"] = [int(al["tls.alert_message.level"]), int(al["tls.alert_message.desc"])]
    elif al is not None:
        out["alert"] = "enc"
    return out


def reduce_tshark(packets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """tshark's -T json packets -> one small dict per frame with its TLS records."""
    frames = []
    for p in packets:
        layers = p["_source"]["layers"]
        tcp = layers.get("tcp", {})
        ts: dict[str, list[str]] = {}
        _collect(tcp, {"tcp.time_relative": "t"}, ts)
        recs = []
        for tls in _as_list(layers.get("tls", [])):
            if not isinstance(tls, dict):
                continue  # "Transport Layer Security": a piece of a reassembled PDU
            for r in _as_list(tls.get("tls.record", [])):
                if isinstance(r, dict):
                    recs.append(_record(r))
        if not recs:
            continue
        frames.append({"frame": int(layers["frame"]["frame.number"]),
                       "stream": int(tcp["tcp.stream"]), "sport": int(tcp["tcp.srcport"]),
                       "t": float(ts["t"][0]) if ts.get("t") else None, "recs": recs})
    return frames


def run_tshark(path: Path, *, extra: list[str] | None = None) -> list[dict[str, Any]]:
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "tcp && tls", "-T", "json",
           "--no-duplicate-keys", "-J", "frame tcp tls",
           "-o", "tcp.calculate_timestamps:TRUE", *(extra or [])]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_TSHARK_CONF)
    out = subprocess.run(cmd, capture_output=True, env=env, check=False)
    if out.returncode != 0 and not out.stdout:
        raise AssertionError(f"tshark failed on {path}: {out.stderr.decode()[-500:]}")
    return reduce_tshark(json.loads(out.stdout or b"[]"))


def _cache_key(path: Path, variant: str) -> str:
    st = path.stat()
    raw = json.dumps([str(path.relative_to(CORPUS)), st.st_size, st.st_mtime_ns, REDUCTION,
                      variant, _tshark_version()])
    return "handshaker/tls_sessions/" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def _keyed_args(rel: str) -> list[str]:
    key = KEYLOGS[rel]
    if key.endswith(".pem"):
        return ["-o", "tls.keylog_file:", "-o", f'uat:rsa_keys:"{(CORPUS / key).resolve()}",""']
    return ["-o", f"tls.keylog_file:{(CORPUS / key).resolve() if key else ''}"]


@pytest.fixture(scope="session")
def tshark_sessions(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(capture, "plain" | "keyed") -> tshark's frames: cached, else all in parallel."""
    require(shutil.which("tshark") is not None, "tshark is not installed")
    store = getattr(request.config, "cache", None)
    tmp = tmp_path_factory.mktemp("no-secrets-sessions")
    jobs: list[tuple[str, str, Callable[[], list[dict[str, Any]]]]] = []
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in corpus_captures():
        rel = str(path.relative_to(CORPUS))
        variants: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = [
            ("plain", lambda p=path: run_tshark(without_secrets(p, tmp),
                                                extra=["-o", "tls.keylog_file:"]))]
        if rel in KEYLOGS:
            variants.append(("keyed", lambda p=path, r=rel: run_tshark(p,
                                                                       extra=_keyed_args(r))))
        for variant, job in variants:
            hit = None if store is None else store.get(_cache_key(path, variant), None)
            if hit is None:
                jobs.append((rel, variant, job))
            else:
                out[rel, variant] = hit
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = pool.map(lambda j: j[2](), jobs)
        for (rel, variant, _), frames in zip(jobs, results, strict=True):
            if store is not None:
                store.set(_cache_key(CORPUS / rel, variant), frames)
            out[rel, variant] = frames
    return out


@cache
def _suite_names() -> dict[int, str]:
    """Cipher suite names as tshark knows them (``tshark -G values``)."""
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=_TSHARK_CONF)
    out = subprocess.run(["tshark", "-G", "values"], capture_output=True, text=True, env=env,
                         check=False).stdout
    names = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "V" and parts[1] == "tls.handshake.ciphersuite":
            names[int(parts[2])] = parts[3]
    return names


# Key exchange by the suite name's prefix, TLS_<kx>_WITH_... (RFC 5246 Appendix A.5 and
# the RFCs after it): the ephemeral ones give forward secrecy.
KX_BY_NAME = {
    "RSA": "rsa", "RSA_EXPORT": "rsa", "RSA_EXPORT1024": "rsa",
    "DHE_RSA": "dhe", "DHE_DSS": "dhe", "DHE_RSA_EXPORT": "dhe", "DHE_DSS_EXPORT": "dhe",
    "DHE_DSS_EXPORT1024": "dhe", "DH_anon": "dhe", "DH_anon_EXPORT": "dhe",
    "DH_RSA": "dh", "DH_DSS": "dh", "DH_RSA_EXPORT": "dh", "DH_DSS_EXPORT": "dh",
    "ECDHE_RSA": "ecdhe", "ECDHE_ECDSA": "ecdhe", "ECDH_anon": "ecdhe",
    "ECDH_RSA": "ecdh", "ECDH_ECDSA": "ecdh",
    "PSK": "psk", "DHE_PSK": "dhe_psk", "ECDHE_PSK": "ecdhe_psk", "RSA_PSK": "rsa_psk",
}
FORWARD_SECRET = {"dhe", "ecdhe", "dhe_psk", "ecdhe_psk", "tls13_ecdhe", "tls13_dhe",
                  "psk_ecdhe", "psk_dhe"}


def expected_key_exchange(suite: int, tls13: bool, psk: bool, group: int | None
                          ) -> tuple[str | None, bool | None]:
    """(key exchange, forward secrecy) from tshark's suite name and the TLS 1.3 extensions."""
    name = _suite_names().get(suite)
    if name is None:
        return None, None
    if tls13:
        dh = "dhe" if group is not None and 256 <= group < 512 else "ecdhe"
        kx = ("psk" if group is None else f"psk_{dh}") if psk else f"tls13_{dh}"
    else:
        head = name.removeprefix("TLS_").removeprefix("SSL_").split("_WITH_")[0]
        found = KX_BY_NAME.get(head)
        if found is None:
            return None, None
        kx = found
    return kx, kx in FORWARD_SECRET


def _int(v: str) -> int:
    return int(v, 16) if v.startswith("0x") else int(v)


@dataclass
class Expected:
    """What tshark shows of one TCP stream's TLS."""

    stream: int
    client_port: int | None = None
    messages: list[tuple[int, str, str]] = field(default_factory=list)  # frame, dir, what
    alerts: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    certificates: list[bytes] = field(default_factory=list)
    times: dict[int, float] = field(default_factory=dict)  # frame -> tcp.time_relative (s)
    sslv2: dict[str, Any] = field(default_factory=dict)


def _truth(rec: dict[str, Any], tls13: bool, who: str, client_finished: bool) -> str | None:
    """What a decrypted record really is, in the observer's vocabulary (None: not decrypted)."""
    ct = rec.get("ct")
    if ct == 21 and isinstance(rec.get("alert"), list):
        return "alert"
    if ct == 23 and (not tls13 or rec.get("opaque") == 23):
        return "application_data" if tls13 or "hs" not in rec else None
    if ct == 22 and isinstance(rec.get("hs"), list) and rec["hs"]:
        types = {_int(h["type"][0]) for h in rec["hs"] if h.get("type")}
        if not tls13:
            return "finished" if types == {20} else "encrypted_handshake"
        if types & {4, 24}:
            return "application_data"  # post-handshake messages: NewSessionTicket, KeyUpdate
        if who == "s2c" and not client_finished:
            return "encrypted_handshake"
        return "finished" if 20 in types else "encrypted_handshake"
    return None


def expected_sessions(frames: list[dict[str, Any]], client_ports: dict[int, int] | None = None
                      ) -> dict[int, Expected]:
    """Per stream, the facts and records tshark shows (``client_ports``: fallback roles)."""
    by_stream: dict[int, list[dict[str, Any]]] = {}
    for f in frames:
        by_stream.setdefault(f["stream"], []).append(f)
    out = {}
    for stream, fs in by_stream.items():
        out[stream] = _expected(stream, fs, (client_ports or {}).get(stream))
    return out


def _expected(stream: int, frames: list[dict[str, Any]], fallback_client: int | None
              ) -> Expected:
    e = Expected(stream)
    for f in frames:
        for rec in f["recs"]:
            if rec.get("v2") == 1 or any(_int(h["type"][0]) == 1 for h in rec.get("hs") or []
                                         if h.get("type")):
                e.client_port = f["sport"]
                break
        if e.client_port is not None:
            break
    if e.client_port is None:
        e.client_port = fallback_client
    hs_of: list[tuple[int, str, dict[str, Any]]] = []  # (frame, dir, message)
    ccs = {"c2s": False, "s2c": False}
    for f in frames:
        who = "c2s" if f["sport"] == e.client_port else "s2c"
        if f["t"] is not None:
            e.times[f["frame"]] = f["t"]
        for rec in f["recs"]:
            n = f["frame"]
            if "v2" in rec:
                e.messages.append((n, who, SSLV2_NAMES.get(rec["v2"], "sslv2_encrypted")))
                if "cipherspec" in rec:
                    e.sslv2["cipher"] = rec["cipherspec"]
                if "certs" in rec and rec["v2"] == 4:
                    e.sslv2["certs"] = rec["certs"]
                continue
            ct = rec.get("ct")
            if rec.get("opaque") == 23 or ct == 23:
                e.messages.append((n, who, "enc23"))
            elif ct == 20:
                ccs[who] = True
                e.messages.append((n, who, "change_cipher_spec"))
            elif ct == 21:
                al = rec.get("alert")
                if isinstance(al, list):
                    level = {1: "warning", 2: "fatal"}.get(al[0], str(al[0]))
                    e.alerts.append((n, who, level, al[1]))
                    e.messages.append((n, who, "alert"))
                else:
                    e.alerts.append((n, who, "encrypted", None))
                    e.messages.append((n, who, "enc21"))
            elif ct == 22:
                hs = rec.get("hs")
                if hs == "":
                    if ccs[who]:
                        e.messages.append((n, who, "enc22"))
                    # else: a fragment of a handshake message that ends in a later record
                    continue
                for h in hs or []:
                    t = _int(h["type"][0])
                    name = HANDSHAKE_NAMES.get(t, f"handshake_{t}")
                    if t == 2 and h.get("random", [""])[0] == HRR_RANDOM:
                        name = "hello_retry_request"
                    e.messages.append((n, who, name))
                    hs_of.append((n, who, {**h, "name": name}))
            elif ct == 24:
                e.messages.append((n, who, "heartbeat"))
    _facts(e, hs_of)
    return e


def _facts(e: Expected, hs_of: list[tuple[int, str, dict[str, Any]]]) -> None:
    first = {}
    for n, who, h in hs_of:
        first.setdefault((h["name"], who), (n, h))
    ch = first.get(("client_hello", "c2s"), (0, None))[1]
    sh_at, sh = first.get(("server_hello", "s2c"), (0, None))
    hrr = first.get(("hello_retry_request", "s2c"), (0, None))[1]
    ske = first.get(("server_key_exchange", "s2c"), (0, None))[1]
    cert = first.get(("certificate", "s2c"), (0, None))[1]
    f: dict[str, Any] = {}
    f["hello_retry"] = hrr is not None
    f["hello_retry_group"] = (group_name(_int(hrr["ks_sel"][0]))
                              if hrr is not None and hrr.get("ks_sel") else None)
    f["sni"] = ch["sni"][0] if ch is not None and ch.get("sni") else None
    f["alpn_offered"] = list(ch.get("alpn", [])) if ch is not None else []
    f["ja3"] = ch["ja3"][0] if ch is not None and ch.get("ja3") else None
    f["version"] = f["cipher_suite"] = f["group"] = f["ja3s"] = f["alpn_selected"] = None
    f["resumed"], f["resumption"] = False, None
    f["key_exchange"] = f["forward_secrecy"] = None
    if sh is not None:
        version = _int((sh.get("sv") or sh["version"])[0])
        tls13 = version == 0x0304 or version >> 8 in (0x7F, 0xFB)
        suite = _int(sh["suite"][0])
        f["version"] = version_name(version)
        f["cipher_suite"] = suite
        f["ja3s"] = sh["ja3s"][0] if sh.get("ja3s") else None
        group = None
        if tls13:
            psk = bool(sh.get("psk_sel"))
            group = _int(sh["ks"][0]) if sh.get("ks") else None
            f["group"] = group_name(group) if group is not None else None
            f["resumed"], f["resumption"] = psk, "psk" if psk else None
        else:
            psk = False
            f["alpn_selected"] = sh["alpn"][0] if sh.get("alpn") else None
            if ske is not None and ske.get("curve") and _int(ske["curve_type"][0]) == 3:
                f["group"] = group_name(_int(ske["curve"][0]))
            elif ske is not None and ske.get("p_len"):
                f["group"] = f"DH {int(ske['p_len'][0]) * 8}-bit prime"
            echo = bool(sh.get("session_id")) and ch is not None and \
                sh.get("session_id") == ch.get("session_id")
            # RFC 5246 §7.3 / RFC 5077 §3.1: the server resumes with CCS (maybe after a
            # NewSessionTicket) right after its ServerHello, no Certificate, no key exchange
            after = [name for n, who, name in e.messages if who == "s2c" and n >= sh_at]
            after = after[after.index("server_hello") + 1:] if "server_hello" in after else []
            abbreviated = bool(after) and after[0] in ("change_cipher_spec",
                                                       "new_session_ticket")
            if echo or abbreviated:
                f["resumed"] = True
                ticket = ch is not None and ch.get("ticket_len", 0) > 0
                f["resumption"] = "ticket" if ticket else "session_id"
        f["key_exchange"], f["forward_secrecy"] = expected_key_exchange(
            suite, tls13, psk, group)
    cr = first.get(("certificate_request", "s2c"))
    ccert = first.get(("certificate", "c2s"), (0, None))[1]
    f["client_auth"] = cr is not None and ccert is not None and \
        int((ccert.get("certs_len") or ["0"])[0]) > 0
    f["alerts"] = list(e.alerts)
    if any(m[2] == "sslv2_server_hello" for m in e.messages):
        # SSL 2.0 (its spec): RSA key exchange; the CLIENT-MASTER-KEY names the cipher
        f.update(version="SSL 2.0", key_exchange="rsa", forward_secrecy=False,
                 cipher_suite=e.sslv2.get("cipher"))
        cert = {"certs": e.sslv2.get("certs", [])}
    e.facts = f
    if cert is not None:
        e.certificates = [bytes.fromhex(c.replace(":", "")) for c in cert.get("certs", [])]


def decrypted_labels(frames: list[dict[str, Any]], exp: dict[int, Expected]
                     ) -> dict[int, dict[tuple[int, str], list[str | None]]]:
    """Per stream, (frame, dir) -> what each encrypted record of that frame really was, in
    order (from tshark's run with the keys)."""
    out: dict[int, dict[tuple[int, str], list[str | None]]] = {}
    tls13_of: dict[int, bool] = {}
    done: dict[int, bool] = {}
    ccs: set[tuple[int, str]] = set()
    for f in frames:
        e = exp.get(f["stream"])
        if e is None:
            continue
        who = "c2s" if f["sport"] == e.client_port else "s2c"
        s = f["stream"]
        for rec in f["recs"]:
            for h in rec.get("hs") or []:
                if h.get("type") and _int(h["type"][0]) == 2 and h.get("sv"):
                    tls13_of[s] = _int(h["sv"][0]) == 0x0304
            tls13 = tls13_of.get(s, False)
            if "v2" in rec or rec.get("ct") in (20, 24):
                if rec.get("ct") == 20:
                    ccs.add((s, who))
                continue
            # TLS 1.3: the records with an outer application_data type; TLS <= 1.2: what
            # follows the sender's ChangeCipherSpec, and application data
            if not (rec.get("opaque") == 23 if tls13 else
                    (s, who) in ccs or rec.get("ct") == 23):
                continue
            label = _truth(rec, tls13, who, done.get(s, False))
            if label == "finished" and who == "c2s":
                done[s] = True
            out.setdefault(s, {}).setdefault((f["frame"], who), []).append(label)
    return out


# -- our side ---------------------------------------------------------------------------


@dataclass
class Ours:
    light: Analysis
    detail: Analysis
    fed: dict[int, list[int]]  # light mode: stream -> frames handed to the TLS observer

    def sessions(self, detail: bool) -> dict[int, TlsSession]:
        a = self.detail if detail else self.light
        return {c.stream: c.tls for c in a.tcp if c.tls is not None}


@contextmanager
def _recording_segments(fed: dict[int, list[int]]) -> Iterator[None]:
    """Record which frames each TlsObserver is fed (to see that light mode stops)."""
    original = TlsObserver.segment

    def segment(self: TlsObserver, direction: int, frame: int, *args: Any) -> None:
        fed.setdefault(self.session.stream, []).append(frame)
        original(self, direction, frame, *args)

    TlsObserver.segment = segment  # type: ignore[method-assign]
    try:
        yield
    finally:
        TlsObserver.segment = original  # type: ignore[method-assign]


def run_ours(path: Path) -> Ours:
    fed: dict[int, list[int]] = {}
    with _recording_segments(fed):
        light = analyze(path)
    return Ours(light, analyze(path, tls_detail=True), fed)


@cache
def ours(rel: str) -> Ours:
    return run_ours(CORPUS / rel)


def category(m: Any, tls13: bool) -> str:
    """What tshark (without keys) would call one of our messages."""
    if not m.encrypted or m.type.startswith("sslv2") or m.type in ("change_cipher_spec",
                                                                   "heartbeat"):
        return str(m.type)  # tshark names the content type of an encrypted record too
    if tls13:
        return "enc23"
    return {"finished": "enc22", "encrypted_handshake": "enc22", "alert": "enc21"}.get(
        m.type, "enc23")


@cache
def _openssl_subject(der: bytes) -> str:
    return str(openssl_view(der)["subject"])


def _is_tls13(s: TlsSession) -> bool:
    v = s.version_code
    return v is not None and (v == 0x0304 or v >> 8 in (0x7F, 0xFB))


def compare(s: TlsSession | None, e: Expected | None, *, detail: bool) -> dict[str, str]:
    """field -> how ours differs from tshark, for one stream."""
    if e is None or s is None:
        return {"session": f"tshark {'TLS' if e else 'no TLS'}, ours {'TLS' if s else 'none'}"}
    diffs: dict[str, str] = {}
    ours_facts = {
        "version": s.version, "cipher_suite": s.cipher_suite, "sni": s.sni,
        "alpn_offered": s.alpn_offered, "alpn_selected": s.alpn_selected, "group": s.group,
        "ja3": s.ja3, "ja3s": s.ja3s, "resumed": s.resumed, "resumption": s.resumption,
        "hello_retry": s.hello_retry, "hello_retry_group": s.hello_retry_group,
        "client_auth": s.client_auth, "key_exchange": s.key_exchange,
        "forward_secrecy": s.forward_secrecy,
        # TLS 1.3 hides alerts in application_data records: tshark shows them only with the
        # keys (test_encrypted_labels_match_decrypted_tshark checks those we infer)
        "alerts": [(a.frame, a.dir, a.level, a.description) for a in s.alerts
                   if not (_is_tls13(s) and a.level == "encrypted")],
    }
    want = dict(e.facts)
    if not detail:
        want["client_auth"] = False  # light mode does not follow the client's second flight
        last = max((m.frame for m in s.messages), default=0)
        want["alerts"] = [a for a in want["alerts"] if a[0] <= last]
    for name in FACTS:
        if ours_facts[name] != want.get(name):
            diffs[name] = f"tshark {want.get(name)!r} ours {ours_facts[name]!r}"
    mine = [(m.frame, m.dir, category(m, _is_tls13(s))) for m in s.messages]
    theirs = e.messages
    if not detail:
        # light mode: what it saw before it stopped (the first application_data at most)
        theirs = theirs[:len(mine)]
    if mine != theirs:
        first = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False))
                      if a != b), min(len(mine), len(theirs)))
        diffs["messages"] = (f"from #{first}: tshark {theirs[first:first + 4]} "
                             f"ours {mine[first:first + 4]} ({len(theirs)} vs {len(mine)})")
    if detail:
        got = [c.get("sha256") for c in s.certificates]
        if got != [hashlib.sha256(d).hexdigest() for d in e.certificates]:
            diffs["certificates"] = f"tshark {len(e.certificates)} ours {len(got)}"
        else:
            for der, c in zip(e.certificates, s.certificates, strict=True):
                if c.get("subject") != _openssl_subject(der):
                    diffs["certificates"] = (f"subject: openssl {_openssl_subject(der)} "
                                             f"ours {c.get('subject')}")
    elif s.certificates:
        diffs["certificates"] = "light mode described certificates"
    timing = _timing_diffs(s, e)
    if timing:
        diffs["timing"] = timing
    return diffs


def _timing_diffs(s: TlsSession, e: Expected) -> str:
    """Each timing_ms entry is the time of the first message of its kind (tcp.time_relative)."""
    firsts: dict[str, int] = {}
    for m in s.messages:
        role = "client" if m.dir == "c2s" else "server"
        key = {"client_hello": "client_hello", "server_hello": "server_hello"}.get(
            m.type, f"{role}_{m.type}")
        firsts.setdefault(key, m.frame)
        if _is_tls13(s) and m.dir == "s2c" and m.type == "encrypted_handshake":
            firsts["server_finished"] = m.frame  # the last record of the server's flight
    wrong = []
    for key, ms in s.timing_ms.items():
        frame = firsts.get(key)
        t = e.times.get(frame) if frame is not None else None
        if t is None or abs(t * 1000 - ms) > 0.0011:
            wrong.append(f"{key} {ms} ms (frame {frame}: tshark {t})")
    for key in ("client_hello", "server_hello"):
        if key in firsts and key not in s.timing_ms:
            wrong.append(f"{key} missing")
    return "; ".join(wrong)


def check_capture(rel: str, o: Ours, frames: list[dict[str, Any]], *, detail: bool
                  ) -> tuple[list[str], set[tuple[int, str]]]:
    """Differences (not allowed) and the (stream, field) allowed differences seen."""
    sessions = o.sessions(detail)
    ports = {n: s.client[1] for n, s in sessions.items() if s.client is not None}
    exp = expected_sessions(frames, ports)
    problems: list[str] = []
    seen: set[tuple[int, str]] = set()
    for stream in sorted(set(exp) | set(sessions)):
        for name, why in compare(sessions.get(stream), exp.get(stream), detail=detail).items():
            if _allowed(rel, stream, name):
                seen.add((stream, name))
            else:
                problems.append(f"stream {stream} {name}: {why}")
    return problems, seen


# -- the corpus -------------------------------------------------------------------------

CAPTURES = corpus_ids()


@pytest.mark.tshark
@pytest.mark.parametrize("detail", [False, True], ids=["light", "detail"])
@pytest.mark.parametrize("rel", CAPTURES)
def test_sessions_match_tshark(rel: str, detail: bool,
                               tshark_sessions: dict[tuple[str, str], list[dict[str, Any]]]
                               ) -> None:
    problems, seen = check_capture(rel, ours(rel), tshark_sessions[rel, "plain"],
                                   detail=detail)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    if detail:
        # a known difference that no longer happens must be taken out of the list
        for streams, fields, why in KNOWN_DIFFERENCES.get(rel, []):
            assert any(s in streams and f in fields for s, f in seen), \
                f"known difference gone ({why})"


@pytest.mark.parametrize("rel", CAPTURES)
def test_light_mode_is_detail_mode_cut_short(rel: str) -> None:
    """Light mode: the same facts, a prefix of the messages, and it stops once they are known."""
    o = ours(rel)
    light, detail = o.sessions(False), o.sessions(True)
    assert light.keys() == detail.keys()
    for n, s in light.items():
        d = detail[n]
        for name in ("version", "cipher_suite", "key_exchange", "forward_secrecy", "group",
                     "sni", "alpn_offered", "alpn_selected", "resumed", "resumption",
                     "hello_retry", "hello_retry_group", "ja3", "ja3s", "ja4", "offered",
                     "client"):
            assert getattr(s, name) == getattr(d, name), f"stream {n} {name}"
        assert s.chosen.items() <= d.chosen.items(), f"stream {n} chosen"
        mine = [(m.frame, m.dir, m.type, m.encrypted) for m in s.messages]
        full = [(m.frame, m.dir, m.type, m.encrypted) for m in d.messages]
        assert mine == full[:len(mine)], f"stream {n}: light messages are not a prefix"
        for key, ms in s.timing_ms.items():
            assert d.timing_ms.get(key) == ms, f"stream {n} timing {key}"
        if s.version is not None and s.version != "SSL 2.0":
            # everything summarised is known by the last message light mode recorded:
            # nothing after that frame may have been fed to the observer
            last = max(m.frame for m in s.messages)
            fed = o.fed.get(n, [])
            assert fed and max(fed) == last, \
                f"stream {n}: fed up to frame {max(fed, default=0)}, facts known at {last}"


@pytest.mark.tshark
@pytest.mark.parametrize("rel", sorted(KEYLOGS))
def test_encrypted_labels_match_decrypted_tshark(
        rel: str, tshark_sessions: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    """With the capture's keys tshark reads the encrypted records: our labels must agree."""
    problems = check_labels(ours(rel), tshark_sessions[rel, "plain"],
                            tshark_sessions[rel, "keyed"])
    assert not problems, "\n".join(problems[:30])


def check_labels(o: Ours, plain: list[dict[str, Any]], keyed: list[dict[str, Any]]
                 ) -> list[str]:
    sessions = o.sessions(True)
    ports = {n: s.client[1] for n, s in sessions.items() if s.client is not None}
    exp = expected_sessions(plain, ports)
    truth = decrypted_labels(keyed, exp)
    problems = []
    checked = 0
    for n, s in sessions.items():
        labels = truth.get(n, {})
        by_frame: dict[tuple[int, str], list[str]] = {}
        for m in s.messages:
            if m.encrypted and not m.type.startswith("sslv2") and m.type not in (
                    "change_cipher_spec", "heartbeat"):
                by_frame.setdefault((m.frame, m.dir), []).append(m.type)
        for key, mine in sorted(by_frame.items()):
            real = labels.get(key)
            if real is None or None in real:
                continue  # tshark could not decrypt it either
            checked += 1
            if mine != real:
                problems.append(f"stream {n} frame {key[0]} {key[1]}: ours {mine} "
                                f"decrypted {real}")
    assert checked or not any(m.encrypted for s in sessions.values() for m in s.messages)
    return problems


def test_key_exchange_classes() -> None:
    """The classes the corpus shows, by suite: RSA has no forward secrecy, (EC)DHE has."""
    seen: dict[int, set[tuple[str | None, bool | None]]] = {}
    for rel in CAPTURES:
        for s in ours(rel).sessions(True).values():
            if s.cipher_suite is not None:
                seen.setdefault(s.cipher_suite, set()).add((s.key_exchange, s.forward_secrecy))
    for suite in (0x002F, 0x0035, 0x009C):
        assert seen.get(suite) == {("rsa", False)}, hex(suite)
    for suite in (0xC02F, 0xC030, 0xC02B, 0xCCA9):
        assert seen.get(suite) == {("ecdhe", True)}, hex(suite)
    for suite in (0x0039, 0x0088, 0x006B):
        assert seen.get(suite, {("dhe", True)}) == {("dhe", True)}, hex(suite)
    assert ("tls13_ecdhe", True) in seen[0x1301]
    assert ("psk_ecdhe", True) in seen[0x1302] and ("tls13_ecdhe", True) in seen[0x1302]
    assert seen[0x1303] == {("psk_ecdhe", True)}  # zeek/tls/tls13_psk_succesfull.pcap


# -- real peers --------------------------------------------------------------------------

LAB_TLS = ["tls12_rsa", "tls12_ecdhe", "tls12_dhe", "tls12_ecdsa", "tls12_client_cert",
           "tls12_resume", "tls13", "tls13_resume", "tls13_client_cert", "tls13_hrr",
           "tls_alert"]
LAB_SPEC = "+".join(LAB_TLS)


@dataclass
class Lab:
    pcap: Path
    results: list[dict[str, Any]]
    ours: Ours
    plain: list[dict[str, Any]]
    keyed: list[dict[str, Any]]

    def result(self, name: str) -> dict[str, Any]:
        return next(r for r in self.results if r["scenario"] == name)

    def sessions(self, name: str, detail: bool = True) -> list[TlsSession]:
        """The scenario's TLS sessions, in connection order."""
        port = self.result(name)["server"]["port"]
        return [s for _, s in sorted(self.ours.sessions(detail).items())
                if s.server is not None and s.server[1] == port]


_lab: dict[str, Lab] = {}


@pytest.fixture
def lab(loopback_capture: Callable[[str], Path]) -> Lab:
    """All TLS scenarios in one real capture, read by us and by tshark (plain and keyed)."""
    if LAB_SPEC not in _lab:
        pcap = loopback_capture(LAB_SPEC)
        results = scenario_results(pcap)
        decode = [a for r in results for a in ("-d", f"tcp.port=={r['server']['port']},tls")]
        keylog = pcap.with_suffix(".keylog")
        with ThreadPoolExecutor(2) as pool:
            plain = pool.submit(run_tshark, pcap, extra=[*decode, "-o", "tls.keylog_file:"])
            keyed = pool.submit(run_tshark, pcap,
                                extra=[*decode, "-o", f"tls.keylog_file:{keylog.resolve()}"])
            _lab[LAB_SPEC] = Lab(pcap, results, run_ours(pcap), plain.result(), keyed.result())
    return _lab[LAB_SPEC]


@pytest.mark.root
@pytest.mark.tshark
@pytest.mark.parametrize("detail", [False, True], ids=["light", "detail"])
def test_lab_sessions_match_tshark(lab: Lab, detail: bool) -> None:
    problems, _ = check_capture("lab", lab.ours, lab.plain, detail=detail)
    assert not problems, "\n".join(problems[:30])
    names = {r["scenario"] for r in lab.results}
    assert names == set(LAB_TLS)
    assert len(lab.ours.sessions(detail)) == sum(len(r["connections"]) for r in lab.results)


@pytest.mark.root
@pytest.mark.tshark
def test_lab_encrypted_labels_match_decrypted_tshark(lab: Lab) -> None:
    problems = check_labels(lab.ours, lab.plain, lab.keyed)
    assert not problems, "\n".join(problems[:30])


@pytest.mark.root
def test_lab_sessions_light_mode_is_detail_cut_short(lab: Lab) -> None:
    light, full = lab.ours.sessions(False), lab.ours.sessions(True)
    for n, s in light.items():
        d = full[n]
        for name in ("version", "cipher_suite", "key_exchange", "group", "resumed",
                     "resumption", "hello_retry", "hello_retry_group", "ja3", "ja3s"):
            assert getattr(s, name) == getattr(d, name), f"stream {n} {name}"
        if s.version is not None:
            assert max(lab.ours.fed[n]) == max(m.frame for m in s.messages), f"stream {n}"


def _one(lab: Lab, name: str, detail: bool = True) -> TlsSession:
    (s,) = lab.sessions(name, detail)
    return s


def _types(s: TlsSession) -> list[tuple[str, str]]:
    return [(m.dir, m.type) for m in s.messages]


@pytest.mark.root
@pytest.mark.parametrize("detail", [False, True], ids=["light", "detail"])
def test_lab_scenarios_keep_their_promises(lab: Lab, detail: bool) -> None:
    """What each scenario promises, as the sessions (light and detail) say it."""
    rsa = _one(lab, "tls12_rsa", detail)
    assert (rsa.version, rsa.cipher_suite, rsa.key_exchange, rsa.forward_secrecy,
            rsa.group) == ("TLS 1.2", 0x009C, "rsa", False, None)
    assert rsa.sni == "handshaker.test" and rsa.alpn_selected == "http/1.1"

    ecdhe = _one(lab, "tls12_ecdhe", detail)
    assert (ecdhe.cipher_suite, ecdhe.key_exchange, ecdhe.forward_secrecy) == (
        0xC02F, "ecdhe", True)
    assert ecdhe.group == "x25519"

    dhe = _one(lab, "tls12_dhe", detail)
    assert (dhe.cipher_suite, dhe.key_exchange, dhe.forward_secrecy) == (0x009E, "dhe", True)
    assert dhe.group == f"DH {lab.result('tls12_dhe')['tls']['dh_bits']}-bit prime"

    ecdsa = _one(lab, "tls12_ecdsa", detail)
    assert (ecdsa.cipher_suite, ecdsa.key_exchange) == (0xC02B, "ecdhe")

    first, again = lab.sessions("tls12_resume", detail)
    assert not first.resumed and again.resumed
    assert again.resumption == lab.result("tls12_resume")["tls"]["resumption"]
    assert again.key_exchange == first.key_exchange == "ecdhe" and again.group is None

    t13 = _one(lab, "tls13", detail)
    assert (t13.version, t13.key_exchange, t13.forward_secrecy, t13.resumed) == (
        "TLS 1.3", "tls13_ecdhe", True, False)
    assert t13.alpn_selected is None  # in EncryptedExtensions

    first13, again13 = lab.sessions("tls13_resume", detail)
    assert not first13.resumed and (again13.resumed, again13.resumption) == (True, "psk")
    assert (again13.key_exchange, again13.forward_secrecy) == ("psk_ecdhe", True)
    assert again13.group == "x25519"

    hrr = _one(lab, "tls13_hrr", detail)
    assert (hrr.hello_retry, hrr.hello_retry_group, hrr.group, hrr.version) == (
        True, "secp256r1", "secp256r1", "TLS 1.3")
    assert [t for t in _types(hrr)][:2] == [("c2s", "client_hello"),
                                            ("s2c", "hello_retry_request")]
    assert ("c2s", "client_hello") in _types(hrr)[2:]

    failed = _one(lab, "tls_alert", detail)
    promised = lab.result("tls_alert")["tls"]["alert"]
    assert (failed.version, failed.key_exchange) == ("TLS 1.2", "ecdhe")
    if detail:
        assert [(a.dir, a.level, a.name) for a in failed.alerts] == [
            ("c2s", "fatal", promised)]
        assert failed.close == "fatal_alert"
        assert _types(failed)[-1] == ("c2s", "alert")
    else:
        # light mode stopped at the ServerKeyExchange, before the client's verdict
        assert failed.alerts == []

    if detail:
        auth = _one(lab, "tls12_client_cert")
        assert auth.client_auth and auth.chosen.get("certificate_request")
        assert [t for t in _types(auth) if t[1] in ("certificate", "certificate_request",
                                                    "certificate_verify")] == [
            ("s2c", "certificate"), ("s2c", "certificate_request"), ("c2s", "certificate"),
            ("c2s", "certificate_verify")]
        # TLS 1.3 hides the client's certificate; its flight's records show in their sizes
        auth13 = _one(lab, "tls13_client_cert")
        assert lab.result("tls13_client_cert")["tls"]["client_cert"]
        assert [t for t in _types(auth13) if t[0] == "c2s"][:5] == [
            ("c2s", "client_hello"), ("c2s", "change_cipher_spec"),
            ("c2s", "encrypted_handshake"), ("c2s", "encrypted_handshake"), ("c2s", "finished")]
        assert ecdsa.certificates[0]["key"] == "EC secp256r1"
        assert rsa.certificates[0]["key"] == "RSA 2048"
        assert _types(again)[:5] == [("c2s", "client_hello"), ("s2c", "server_hello"),
                                     ("s2c", "change_cipher_spec"), ("s2c", "finished"),
                                     ("c2s", "change_cipher_spec")] or \
            _types(again)[2] == ("s2c", "new_session_ticket")
        for s in (rsa, ecdhe, t13, again13):
            assert s.close == "close_notify" or s.close == "encrypted_alert", s.close
        assert ("s2c", "encrypted_handshake") in _types(t13)
        assert ("c2s", "finished") in _types(t13)


# -- RFC 5077 without a session id echo -------------------------------------------------


def _direction_bytes(rel: str, stream: int) -> tuple[bytes, bytes]:
    """The client's and the server's TLS bytes of one corpus stream, reassembled."""
    from handshaker.flow.reassembly import Reassembler

    a = analyze(CORPUS / rel, keep_tcp=lambda n: n == stream, tls=False)
    st = a.kept[stream]
    out = []
    for d in (0, 1):
        r = Reassembler()
        for seg in st.segments or []:
            if seg.sender == d:
                r.add(seg.frame, seg.seq_raw, seg.payload, syn=bool(seg.flags & 0x02),
                      fin=bool(seg.flags & 0x01))
        r.close()
        out.append(r.read()[0])
    return out[0], out[1]  # endpoint a opened the connection: the client


def _without_session_id(record: bytes) -> bytes:
    """A ClientHello/ServerHello record rebuilt with an empty (legacy_)session_id."""
    import dataclasses

    from handshaker.tls import messages as M

    m = M.parse_handshake(record[5], record[9:], version=None, kx=None)
    if isinstance(m, M.ClientHello):
        m = dataclasses.replace(m, legacy_session_id=b"")
    else:
        m = dataclasses.replace(m, legacy_session_id_echo=b"")
    hs = M.build_handshake(m)
    return record[:3] + len(hs).to_bytes(2, "big") + hs


def _first_record(data: bytes) -> tuple[bytes, bytes]:
    n = 5 + int.from_bytes(data[3:5], "big")
    return data[:n], data[n:]


def _observe(client: bytes, server: bytes) -> TlsObserver:
    """A light-mode observer fed the client's, then the server's bytes, a record a frame."""
    from types import SimpleNamespace

    stream = SimpleNamespace(dirs=[SimpleNamespace(isn=0), SimpleNamespace(isn=0)],
                             first_ts=0, number=0, segments=None)
    obs = TlsObserver(stream)
    frame = 0
    for d, data in ((0, client), (1, server)):
        seq = 1
        while data and obs.active:
            rec, data = _first_record(data)
            frame += 1
            obs.segment(d, frame, frame * 1000, seq, len(rec), rec, 0)
            seq += len(rec)
    return obs


def test_ticket_resumption_without_session_id_echo() -> None:
    """RFC 5077 §3.4: a client may offer a ticket with an empty session id; then only the
    server's next message (CCS or NewSessionTicket, not Certificate) says it resumed.

    Real bytes (junkie/https/dokuwiki.pcap: stream 1 resumes stream 0's session by
    ticket, and the server echoes the session id the client sent beside it) with the
    session ids taken out of both hellos."""
    rel = "junkie/https/dokuwiki.pcap"
    require((CORPUS / rel).is_file(), f"{rel} is missing")
    c1, s1 = _direction_bytes(rel, 1)
    _, s0 = _direction_bytes(rel, 0)
    hello, _ = _first_record(c1)
    hello = _without_session_id(hello)
    for server, resumed, stop in ((s1, True, "change_cipher_spec"), (s0, False, "certificate")):
        first, rest = _first_record(server)
        obs = _observe(hello, _without_session_id(first) + rest)
        s = obs.session
        assert (s.resumed, s.resumption) == (resumed, "ticket" if resumed else None)
        # light mode waited for that one message, no more
        assert not obs.active and s.messages[-1].type == stop
        assert [m.type for m in s.messages][:2] == ["client_hello", "server_hello"]


def test_starttls_prologue_that_never_switches_is_not_tls() -> None:
    """A STARTTLS-capable greeting gets an observer; plaintext that never turns into TLS
    is given up after MAX_PROLOGUE_BYTES and leaves no session."""
    from types import SimpleNamespace

    from handshaker.tls.observer import MAX_PROLOGUE_BYTES, observe, starttls_protocol

    stream = SimpleNamespace(dirs=[SimpleNamespace(isn=0), SimpleNamespace(isn=0)],
                             first_ts=0, number=0, segments=None)
    assert observe(stream, 0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is None
    assert starttls_protocol(b"* OK IMAP4rev1 ready\r\n") == "imap"
    greeting = b"220 mail.example ESMTP\r\n"
    obs = observe(stream, 1, greeting)
    assert obs is not None
    line = b"250-a line of a plaintext SMTP conversation, never STARTTLS\r\n"
    seq, frame = 1, 0
    while obs.active and seq < 4 * MAX_PROLOGUE_BYTES:
        frame += 1
        obs.segment(0, frame, frame, seq, len(line), line, 0)
        seq += len(line)
    assert not obs.active and seq < 2 * MAX_PROLOGUE_BYTES
    assert obs.finish(("192.0.2.1", 40000), ("192.0.2.2", 25), 0, "four_way") is None
