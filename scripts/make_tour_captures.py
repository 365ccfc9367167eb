#!/usr/bin/env python3
"""Regenerate the captures that ship with handshaker (src/handshaker/data/).

Every file is real traffic between real peers on lo (the kernel's TCP,
OpenSSL 3 via Python's ssl), captured by tcpdump: see handshaker.lab.peers.
Needs root and tcpdump; with tshark installed, --check prints what tshark
sees in each file.

    sudo python3 scripts/make_tour_captures.py [--out DIR] [--check]

Also writes DIR/README.md: how, when and on what each file was made.
Each run makes new keys, ISNs and ports, so the bytes change; the shape
(frames, flags, handshake messages) does not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from handshaker.lab.loopcap import capture_possible
from handshaker.lab.peers import SCENARIOS, key_pem_path, keylog_path, record

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "handshaker" / "data"

# file -> (scenarios captured into it, in order; what it is for)
TOUR: dict[str, tuple[list[str], str]] = {
    "tour-tcp.pcap": (["tcp_basic"],
                      "three-way handshake, request in 3 writes, response in 2, "
                      "four-way close started by the client"),
    "tour-isn.pcap": (["tcp_many"], "4 short connections in a row: random ISNs side by side"),
    "tour-udp.pcap": (["udp_basic", "tcp_short"],
                      "UDP request/response, datagrams of 1/32/200/1000 bytes, a broadcast "
                      "and a multicast datagram; then the same request/response over TCP"),
    "tour-reset.pcap": (["tcp_refused", "tcp_abort"],
                        "SYN to a closed port answered by RST/ACK; then a connection "
                        "aborted by the client with RST (SO_LINGER 0)"),
    "tour-tls12-rsa.pcap": (["tls12_rsa"],
                            "TLS 1.2, TLS_RSA_WITH_AES_128_GCM_SHA256 (0x009c), RSA key "
                            "exchange; key log and the server's RSA key beside it"),
    "tour-tls12-ecdhe.pcap": (["tls12_ecdhe"],
                              "TLS 1.2, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (0xc02f); "
                              "key log beside it"),
    "tour-tls13.pcap": (["tls13"], "TLS 1.3 (OpenSSL's defaults); key log beside it"),
}


def pcap_frames(path: Path) -> int:
    """Number of records in a classic pcap file (tcpdump writes native byte order)."""
    data = path.read_bytes()
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        off += 16 + incl
        n += 1
    return n


def tool_version(cmd: list[str]) -> str:
    exe = shutil.which(cmd[0])
    if exe is None:
        return "not installed"
    out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, check=False)
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def tshark_summary(path: Path, keylog: Path | None, ports: list[int]) -> str:
    exe = shutil.which("tshark")
    if exe is None:
        return "(tshark not installed)"
    cmd = [exe, "-n", "-r", str(path)]
    for port in ports:
        cmd += ["-d", f"tcp.port=={port},tls"]
    cmd += ["-o", f"tls.keylog_file:{keylog.resolve() if keylog else ''}"]
    with tempfile.TemporaryDirectory() as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    return out.stdout


def make(out: Path, check: bool) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for name, (scenarios, what) in TOUR.items():
        path = out / name
        for stale in (keylog_path(path), key_pem_path(path)):
            stale.unlink(missing_ok=True)
        results = record(path, scenarios)
        files = [path]
        files += [p for p in (keylog_path(path), key_pem_path(path)) if p.exists()]
        entry: dict[str, Any] = {
            "file": name,
            "scenarios": scenarios,
            "what": what,
            "frames": pcap_frames(path),
            "sizes": {p.name: p.stat().st_size for p in files},
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "ports": [r["server"]["port"] for r in results],
        }
        made.append(entry)
        print(f"{name}: {entry['frames']} frames, "
              + ", ".join(f"{k} {v} B" for k, v in entry["sizes"].items()))
        if check:
            keylog = keylog_path(path) if keylog_path(path).exists() else None
            print(tshark_summary(path, keylog, entry["ports"]))
    return made


def readme(made: list[dict[str, Any]], when: dt.datetime) -> str:
    import cryptography

    lines = [
        "# Captures shipped with handshaker: provenance",
        "",
        "Every file here is real traffic between real peers on the loopback interface",
        "of one Linux machine: the kernel's TCP through Python sockets, and OpenSSL",
        "through Python's `ssl`, driven by `handshaker.lab.peers` and captured by",
        "`tcpdump -i lo -U --immediate-mode` filtered to the scenario's ports.",
        "Nothing was edited afterwards.",
        "",
        "Made by:",
        "",
        "```sh",
        "sudo python3 scripts/make_tour_captures.py --check",
        "```",
        "",
        f"- date: {when.isoformat(timespec='seconds')}",
        f"- kernel: Linux {platform.release()} ({platform.machine()})",
        f"- OpenSSL: {ssl.OPENSSL_VERSION} (Python {platform.python_version()}"
        f" `ssl`; certificates by `cryptography` {cryptography.__version__})",
        f"- tcpdump: {tool_version(['tcpdump', '--version'])}",
        f"- checked with: {tool_version(['tshark', '--version'])}",
        "",
        "| file | scenarios | frames | bytes | what |",
        "|---|---|---:|---:|---|",
    ]
    for m in made:
        lines.append(
            f"| `{m['file']}` | {', '.join(m['scenarios'])} | {m['frames']} | "
            f"{m['sizes'][m['file']]} | {m['what']} |"
        )
    lines += [
        "",
        "Beside the TLS captures: `NAME.keylog` is the client's NSS key log",
        "(`SSLContext.keylog_filename`), `tour-tls12-rsa.key.pem` the server's RSA",
        "private key (PKCS#1 PEM), which alone decrypts that session (RSA key",
        "exchange, no forward secrecy). Key and certificates are throwaway: a CA",
        "and a leaf for `handshaker.test` (RSA 2048, SAN, valid 90 days from the",
        "date above), generated for this run and never used again.",
        "",
        "Sizes and checksums:",
        "",
        "| file | bytes | sha256 |",
        "|---|---:|---|",
    ]
    for m in made:
        lines.append(f"| `{m['file']}` | {m['sizes'][m['file']]} | `{m['sha256']}` |")
        lines += [f"| `{k}` | {v} | |" for k, v in m["sizes"].items() if k != m["file"]]
    lines += [
        "",
        "What loopback does that a real NIC would not: TCP and UDP checksums are",
        "left partial (offloaded, never completed), so a dissector that validates",
        "them calls them bad (tshark does not validate by default). IPv4 header",
        "checksums are complete, and so are the TCP checksums of segments the",
        "kernel sends without a full socket: the RST/ACK answering a SYN to a",
        "closed port and the last ACK sent from TIME_WAIT. Segments may be GSO",
        "super-segments larger than the MSS (not here: every write is small). The",
        "MSS option says 65495 (lo's MTU 65536 minus 40). All of this is what the",
        "kernel really put on lo; nothing was fixed up.",
        "",
        "Decrypt in Wireshark/tshark (TLS on these non-standard ports needs",
        "`-d tcp.port==PORT,tls`):",
        "",
        "```sh",
        "tshark -r tour-tls13.pcap -d tcp.port==PORT,tls -o tls.keylog_file:$PWD/tour-tls13.keylog",
        "```",
        "",
        "Ports used (server side): "
        + "; ".join(f"`{m['file']}` {', '.join(map(str, m['ports']))}" for m in made),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--check", action="store_true", help="print what tshark sees in each file")
    args = ap.parse_args(argv)
    ok, why = capture_possible()
    if not ok:
        print(f"make_tour_captures: {why}", file=sys.stderr)
        return 2
    missing = {s for scenarios, _ in TOUR.values() for s in scenarios} - set(SCENARIOS)
    if missing:
        print(f"make_tour_captures: unknown scenarios {sorted(missing)}", file=sys.stderr)
        return 2
    when = dt.datetime.now(dt.timezone.utc)
    made = make(args.out, args.check)
    (args.out / "README.md").write_text(readme(made, when))
    print(f"wrote {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
