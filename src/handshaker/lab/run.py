"""``handshaker lab``: make one kind of handshake happen here, capture it, show it.

:func:`run_lab` runs a scenario of :mod:`handshaker.lab.peers` while
:mod:`handshaker.lab.loopcap` captures ``lo``, then writes the capture
again with the scenario's key log inside, as a pcapng Decryption Secrets
Block placed before the first packet (Wireshark and tshark decrypt such a
file with no option, and so does handshaker), and the server's RSA private
key beside it when the scenario has one. :func:`show_lab` prints what
happened: each connection's ladder, each TLS session decrypted with the
key derivation explained, and for ``compare-rsa-ecdhe`` the two sessions
side by side, opened with the server's RSA key alone.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from handshaker.lab.loopcap import LabError
from handshaker.lab.peers import key_pem_path, keylog_path, record


@dataclass(frozen=True)
class LabScenario:
    name: str  # as typed on the command line
    scenario: str  # the name in handshaker.lab.peers.SCENARIOS
    en: str
    zh: str


LAB = {s.name: s for s in (
    LabScenario("tcp", "tcp_basic", "TCP: three-way handshake, data, four-way close",
                "TCP: 三次握手, 传数据, 四次挥手"),
    LabScenario("tcp-server-closes", "tcp_server_closes", "TCP: the server closes first",
                "TCP: 服务器先关闭"),
    LabScenario("tcp-half-close", "tcp_half_close",
                "TCP: the client half-closes; the server still sends, then closes",
                "TCP: 客户端半关闭, 服务器仍然发送, 然后关闭"),
    LabScenario("tcp-simultaneous-close", "tcp_simultaneous_close",
                "TCP: both sides close at the same instant (FINs cross)",
                "TCP: 双方同时关闭 (两个 FIN 交叉)"),
    LabScenario("tcp-refused", "tcp_refused", "TCP: a SYN to a closed port gets RST",
                "TCP: 发往未监听端口的 SYN 收到 RST"),
    LabScenario("tcp-abort", "tcp_abort", "TCP: the client aborts with RST (SO_LINGER 0)",
                "TCP: 客户端用 RST 中止连接 (SO_LINGER 0)"),
    LabScenario("tcp-syn-retry", "tcp_syn_retry",
                "TCP: a dropped SYN, sent again after the 1 s timeout",
                "TCP: SYN 被丢弃, 1 秒超时后重传"),
    LabScenario("tcp-many", "tcp_many", "TCP: four connections: random ISNs side by side",
                "TCP: 四个连接: 并排比较随机的初始序列号 ISN"),
    LabScenario("udp", "udp_basic", "UDP: datagrams, no handshake, no close",
                "UDP: 数据报, 没有握手, 没有挥手"),
    LabScenario("tls12-rsa", "tls12_rsa", "TLS 1.2 with RSA key exchange",
                "TLS 1.2, RSA 密钥交换"),
    LabScenario("tls12-ecdhe", "tls12_ecdhe", "TLS 1.2 with ECDHE", "TLS 1.2, ECDHE 密钥交换"),
    LabScenario("tls12-dhe", "tls12_dhe", "TLS 1.2 with DHE (ffdhe2048)",
                "TLS 1.2, DHE 密钥交换 (ffdhe2048)"),
    LabScenario("tls12-ecdsa", "tls12_ecdsa", "TLS 1.2 with ECDHE and an ECDSA certificate",
                "TLS 1.2, ECDHE 与 ECDSA 证书"),
    LabScenario("tls12-resume", "tls12_resume", "TLS 1.2, then a resumption by ticket",
                "TLS 1.2, 然后用会话票据恢复会话"),
    LabScenario("tls12-client-cert", "tls12_client_cert",
                "TLS 1.2; the server asks for the client's certificate",
                "TLS 1.2, 服务器要求客户端证书"),
    LabScenario("tls13", "tls13", "TLS 1.3", "TLS 1.3"),
    LabScenario("tls13-hrr", "tls13_hrr", "TLS 1.3 with a HelloRetryRequest",
                "TLS 1.3, 带 HelloRetryRequest"),
    LabScenario("tls13-resume", "tls13_resume", "TLS 1.3, then a resumption with a PSK",
                "TLS 1.3, 然后用 PSK 恢复会话"),
    LabScenario("tls13-client-cert", "tls13_client_cert",
                "TLS 1.3; the server asks for the client's certificate",
                "TLS 1.3, 服务器要求客户端证书"),
    LabScenario("tls-alert", "tls_alert",
                "a failed TLS handshake: the client rejects the certificate",
                "TLS 握手失败: 客户端拒绝证书, 发出告警"),
    LabScenario("compare-rsa-ecdhe", "compare_rsa_ecdhe",
                "RSA against ECDHE with one server key: which one the key opens, and why",
                "同一把服务器私钥, RSA 与 ECDHE 对比: 它能解开哪个, 为什么"),
)}


def lab_scenario(name: str) -> LabScenario:
    found = LAB.get(name) or LAB.get(name.replace("_", "-"))
    if found is None:
        from handshaker.errors import UsageError

        raise UsageError(f"lab: no scenario {name!r}; handshaker lab --list names them")
    return found


@dataclass(frozen=True)
class LabRun:
    scenario: LabScenario
    capture: Path
    server_key: Path | None
    packets: int
    results: list[dict[str, Any]]


def run_lab(name: str, output: Path) -> LabRun:
    """Run scenario ``name`` on loopback and write its capture to ``output`` (pcapng, its
    key log inside); the server's RSA key, if any, goes to ``output`` with ``.key.pem``."""
    from handshaker.capture import open_capture
    from handshaker.capture.live import interface_linktype
    from handshaker.capture.writer import PcapngWriter
    from handshaker.tls.keys import DSB_TLS_KEY_LOG

    sc = lab_scenario(name)
    with tempfile.TemporaryDirectory(prefix="handshaker-lab-") as tmp:
        raw = Path(tmp, "raw.pcapng")
        results = record(raw, [sc.scenario])
        keylog = keylog_path(raw)
        secrets = keylog.read_bytes() if keylog.exists() else b""
        packets = 0
        try:
            with open(output, "wb") as f, open_capture(raw) as cap:
                w = PcapngWriter(f)
                iface = w.add_interface(interface_linktype("lo"), "lo",
                                        filter_text=f"port {results[0]['server']['port']}")
                if secrets:
                    w.secrets(DSB_TLS_KEY_LOG, secrets)
                for frame in cap:
                    w.packet(iface, frame.ts_ns, frame.data, wirelen=frame.wirelen)
                    packets += 1
        except OSError as err:
            raise LabError(f"{output}: cannot write ({err.strerror})") from None
        key = key_pem_path(raw)
        server_key = None
        if key.exists():
            server_key = output.with_suffix(".key.pem")
            shutil.copyfile(key, server_key)
            server_key.chmod(0o600)
    return LabRun(sc, output, server_key, packets, results)


def show_lab(run: LabRun, console: Console, lang: str) -> None:
    """What happened: ladders, TLS sessions decrypted and explained, the comparison."""
    from handshaker.analysis import analyze
    from handshaker.explain.ladder import build_ladder
    from handshaker.render.text import clean, render_connections, render_ladder
    from handshaker.render.tls_text import render_data, render_session
    from handshaker.tls.opener import KeyRing

    zh = lang == "zh"
    title = run.scenario.zh if zh else run.scenario.en
    console.rule(Text(clean(f"handshaker lab {run.scenario.name}: {title}"), style="bold"))
    where = (f"在 lo 上抓到 {run.packets} 个数据包, 写入 {run.capture}" if zh else
             f"{run.packets} packets captured on lo, written to {run.capture}")
    if any(r.get("tls") for r in run.results):
        where += (" (密钥日志作为 Decryption Secrets Block 存在文件里)" if zh else
                  " (its key log inside, as a Decryption Secrets Block)")
    if run.server_key is not None:
        where += (f"; 服务器私钥: {run.server_key}" if zh else
                  f"; the server's private key: {run.server_key}")
    console.print(Text(clean(where)))
    a = analyze(run.capture, keep_tcp=lambda n: True, keys=KeyRing(explain=True))
    from handshaker.render.json_out import connection_dict

    rows = [connection_dict(c) for c in a.connections]
    render_connections(rows, console, lang=lang)
    for conn in a.tcp:
        st = a.kept.get(conn.stream)
        if st is not None:
            render_ladder(build_ladder(st, conn, lang), console)
        if conn.tls is not None:
            s = conn.tls.as_dict()
            s["data"] = [{"frame": f, "dir": "c2s" if d == conn.tls.client_dir else "s2c",
                          "length": len(b), "text": b.decode("utf-8", "replace")}
                         for d, f, _, b in conn.tls.data]
            render_session(s, console, lang)
            render_data(s, console, lang)
    if run.scenario.name == "compare-rsa-ecdhe" and run.server_key is not None:
        _compare(run, console, zh)
    if run.scenario.name == "tcp-simultaneous-close":
        crossed = sum(c.close.get("kind") == "simultaneous" for c in a.tcp)
        if crossed:
            text = (f"{len(a.tcp)} 次尝试中有 {crossed} 次两个 FIN 交叉 (同时关闭)" if zh else
                    f"{crossed} of {len(a.tcp)} tries closed simultaneously: the FINs crossed")
        else:
            text = ("这次内核没有让两个 FIN 交叉: 每个 FIN 都在对方关闭之前到达 "
                    "(单 CPU 时常见)" if zh else
                    "the kernel did not let the FINs cross this time: each FIN arrived "
                    "before the other side closed (usual with one CPU)")
        console.print(Text(text, style="bold"))


def _compare(run: LabRun, console: Console, zh: bool) -> None:
    """Both sessions opened with the server's RSA key alone, side by side."""
    from handshaker.analysis import analyze
    from handshaker.render.text import clean
    from handshaker.tls.keys import load_rsa_key
    from handshaker.tls.opener import KeyRing

    assert run.server_key is not None
    key = load_rsa_key(run.server_key)
    # the key log inside the file would open both: read them without it
    a = analyze(run.capture, keys=KeyRing(rsa_keys=[key], capture_secrets=False))
    table = Table(title="只用服务器的 RSA 私钥解密" if zh else
                  "decrypted with the server's RSA private key alone", header_style="bold")
    for col in ("stream", "cipher suite", "key exchange", "opened" if not zh else "能否解开"):
        table.add_column(col)
    notes = []
    for conn in a.tcp:
        s = conn.tls
        if s is None or s.decryption is None:
            continue
        ok = s.decryption.ok
        table.add_row(str(conn.stream), s.cipher_suite_name or "?", s.key_exchange or "?",
                      ("能" if ok else "不能") if zh else ("yes" if ok else "no"))
        if not ok:
            reason = s.decryption.reason_zh if zh else s.decryption.reason
            notes.append(f"stream {conn.stream}: {reason}")
        else:
            first = next((b for d, _, _, b in s.data if d == s.client_dir), b"")
            line = first.split(b"\r\n", 1)[0].decode("ascii", "replace")
            notes.append(f"stream {conn.stream}: {'解密后' if zh else 'decrypted'}: {line}")
    console.print(table)
    for line in notes:
        console.print(Text(clean(line), style="dim"))


__all__ = ["LAB", "LabRun", "LabScenario", "lab_scenario", "run_lab", "show_lab"]
