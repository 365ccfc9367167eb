"""Command line: argument parsing and wiring, no logic of its own.

Exit codes: 0 ok, 1 the analysis found a problem the user asked to fail on,
2 bad input or usage (one line naming the file, frame and offset).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from handshaker.errors import HandshakerError, UsageError

if TYPE_CHECKING:  # (rich is imported where a command draws: analyze --format json does not)
    from rich.console import Console

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
PIPE_WIDTH = 120


def _console(args: argparse.Namespace, stderr: bool = False) -> Console:
    from rich.console import Console

    no_color = getattr(args, "no_color", False) or "NO_COLOR" in os.environ
    console = Console(stderr=stderr, no_color=no_color, highlight=False,
                      color_system=None if no_color else "auto", soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH  # a pipe or a file: room for a full table row
    return console


def _lang(args: argparse.Namespace) -> str:
    from handshaker.explain.i18n import default_lang

    return getattr(args, "lang", None) or default_lang()


def _warn(args: argparse.Namespace, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"handshaker: warning: {msg}", file=sys.stderr)


def _report_diagnostics(args: argparse.Namespace, analysis: Any) -> None:
    for d in analysis.diagnostics:
        _warn(args, str(d))
    for key, n in sorted(analysis.counts.items()):
        if key.startswith("skipped_linktype:"):
            _warn(args, f"{analysis.path}: {n} frames of link type {key.split(':', 1)[1]} "
                        "skipped (handshaker does not decode that link layer)")


#: inputs at least this large get a progress bar (on a terminal, without -q)
PROGRESS_MIN_BYTES = 32 << 20


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a number of processes (1 or more): {text!r}")
    return n


@contextlib.contextmanager
def _progress(args: argparse.Namespace, path: str) -> Any:
    """A progress bar on standard error (packets, MB/s, time left) for a large input read
    on a terminal; None (no bar) when piped, with -q, or for a small file."""
    try:
        size = os.path.getsize(path) if path != "-" else 0
    except OSError:
        size = 0
    if args.quiet or not sys.stderr.isatty() or size < PROGRESS_MIN_BYTES:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    # (the bytes done are of the file as it is on disk: a gzip file's compressed bytes)
    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.fields[frames]:,} packets"), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=_console(args, stderr=True), transient=True)
    task = bar.add_task(os.path.basename(path), total=size, frames=0)

    def update(frames: int, done: int) -> None:
        bar.update(task, completed=done, frames=frames)

    with bar:
        yield update


def cmd_analyze(args: argparse.Namespace) -> int:
    from handshaker.analysis import analyze
    from handshaker.render.csv_out import CSV_COLUMNS, CsvRender
    from handshaker.render.json_out import JSON, JsonWriter, connection_dict

    many = len(args.files) > 1
    anomalies = False
    out = sys.stdout
    if args.format == "json" and many:
        out.write('{"files":[')
    elif args.format == "csv":
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
    for i, path in enumerate(args.files):
        with _progress(args, path) as progress:
            if args.format == "json":
                if i:
                    out.write(",")
                writer_json = JsonWriter(out)  # streamed: connections as each one is over
                a = analyze(path, file_index=i, on_connection=writer_json.write, render=JSON,
                            progress=progress, jobs=args.jobs)
                writer_json.end(a)
            elif args.format == "csv":
                a = analyze(path, file_index=i, on_connection=writer.writerow,
                            render=CsvRender(path), progress=progress, jobs=args.jobs)
            else:
                a = analyze(path, file_index=i, progress=progress)
        if args.format not in ("json", "csv"):
            from handshaker.explain.i18n import t
            from handshaker.render.text import render_connections

            lang = _lang(args)
            title = t("analyze_title", lang, path=a.path, frames=a.frames, tcp=a.tcp_streams,
                      udp=a.udp_streams)
            render_connections([connection_dict(c) for c in a.connections], _console(args),
                               title, lang)
        _report_diagnostics(args, a)
        anomalies = anomalies or a.anomalies_seen
    if args.format == "json":
        out.write("]}\n" if many else "\n")
    if args.fail_on_anomaly and anomalies:
        return EXIT_FAIL
    return EXIT_OK


def cmd_ladder(args: argparse.Namespace) -> int:
    from handshaker.analysis import analyze
    from handshaker.explain.ladder import build_ladder
    from handshaker.flow.tcp import TcpSummary
    from handshaker.render.text import render_ladder

    found: list[TcpSummary] = []

    def mine(c: object) -> None:  # every other connection is dropped as soon as it is over
        if isinstance(c, TcpSummary) and c.stream == args.stream:
            found.append(c)

    a = analyze(args.file, keep_tcp=lambda n: n == args.stream, on_connection=mine)
    _report_diagnostics(args, a)
    st = a.kept.get(args.stream)
    if st is None or not found:
        raise UsageError(
            f"no TCP stream {args.stream} (the capture has {a.tcp_streams} TCP streams, "
            f"numbered 0..{max(a.tcp_streams - 1, 0)})", file=args.file)
    obs = st.observer
    if obs is not None and hasattr(obs, "verify"):
        obs.verify(args.ca_file)  # the client's certificate check, redone for the ladder
    lang = _lang(args)
    ladder = build_ladder(st, found[0], lang)
    if args.format in ("svg", "mermaid"):
        if args.format == "svg":
            from handshaker.render.svg import render_svg

            text = render_svg(ladder, absolute=args.absolute)
        else:
            from handshaker.render.mermaid import render_mermaid

            text = render_mermaid(ladder, absolute=args.absolute)
        _write_text(args.output, text)
    elif args.format == "json":
        json.dump(ladder.as_dict(), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        console = _console(args)
        render_ladder(ladder, console, absolute=args.absolute, notes=not args.no_notes,
                      ascii_only=args.ascii or (not console.is_terminal and args.ascii))
    return EXIT_OK


def _write_text(path: str | None, text: str) -> None:
    """``text`` to the file ``path``, or to standard output (None or -)."""
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        raise UsageError(f"{path}: cannot write ({err.strerror})") from None


def cmd_layers(args: argparse.Namespace) -> int:
    from handshaker.capture import open_capture
    from handshaker.dissect.packet import decode
    from handshaker.render.layers import layers_json, render_layers

    if args.frame < 1:
        raise UsageError("frames are numbered from 1", file=args.file)
    with open_capture(args.file) as cap:
        for frame in cap.frames():
            if frame.number == args.frame:
                pkt = decode(frame)
                break
        else:
            for d in cap.diagnostics:
                _warn(args, str(d))
            raise UsageError(f"no frame {args.frame} (the capture has fewer frames)",
                             file=args.file)
    if args.format == "json":
        json.dump(layers_json(pkt), sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        render_layers(pkt, console=_console(args), lang=_lang(args))
    return EXIT_OK


def _key_ring(args: argparse.Namespace) -> Any:
    """The keys of the ``tls`` command's options (None: no key given and none wanted)."""
    from handshaker.tls.keys import load_rsa_key
    from handshaker.tls.opener import KeyRing

    ring = KeyRing(explain=args.explain_keys)
    for path in args.keylog or []:
        ring.keylog.add_file(path)
    password = args.rsa_key_password
    for path in args.rsa_key or []:
        try:
            ring.rsa_keys.append(load_rsa_key(path, _password(password)))
        except UsageError as err:
            if password is not None or "encrypted" not in str(err) or not sys.stdin.isatty():
                raise
            import getpass

            password = getpass.getpass(f"password for {path}: ")
            ring.rsa_keys.append(load_rsa_key(path, _password(password)))
    for problem in ring.keylog.problems:
        _warn(args, problem)
    if ring.keylog.problems_dropped:
        _warn(args, f"{ring.keylog.problems_dropped} more key log lines skipped")
    return ring


def _password(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _data_entries(session: Any, mode: str) -> list[dict[str, Any]]:
    out = []
    for d, frame, _, data in session.data:
        entry: dict[str, Any] = {"frame": frame, "dir": "c2s" if d == session.client_dir
                                 else "s2c", "length": len(data)}
        if mode == "text":
            entry["text"] = data.decode("utf-8", "replace")
        else:
            entry["hex"] = data.hex()
        out.append(entry)
    return out


def _write_plain(path: str, plain: list[Any]) -> None:
    """The decrypted streams as a capture: each a clean TCP conversation between the same
    endpoints, one segment per decrypted record, at the records' times."""
    from handshaker.capture.model import LINKTYPE_RAW
    from handshaker.capture.writer import PcapngWriter
    from handshaker.flow.synth import tcp_conversation

    packets: list[tuple[int, bytes]] = []
    for _, t in plain:
        chunks = [(d == t.client_dir, ts, data) for d, _, ts, data in t.data]
        packets.extend(tcp_conversation(t.client, t.server, chunks))
    packets.sort(key=lambda p: p[0])
    try:
        with open(path, "wb") as f:
            w = PcapngWriter(f)
            iface = w.add_interface(LINKTYPE_RAW, "decrypted",
                                    "TLS application data decrypted by handshaker")
            for ts, pkt in packets:
                w.packet(iface, ts, pkt)
    except OSError as err:
        raise UsageError(f"{path}: cannot write ({err.strerror})") from None


def cmd_tls(args: argparse.Namespace) -> int:
    from handshaker.analysis import analyze
    from handshaker.flow.tcp import TcpSummary
    from handshaker.render.tls_text import render_data, render_session

    ring = _key_ring(args)
    sessions: list[dict[str, Any]] = []
    raw: list[bytes] = []
    plain: list[Any] = []

    def keep(c: object) -> None:  # only the TLS sessions stay in memory
        if not isinstance(c, TcpSummary) or c.tls is None:
            return
        if args.stream is not None and c.stream != args.stream:
            return
        d = c.tls.as_dict()
        if args.data:
            d["data"] = _data_entries(c.tls, args.data)
            if args.data == "raw":
                raw.extend(chunk for *_, chunk in c.tls.data)
        if args.write_plain and c.tls.data:
            plain.append((c, c.tls))
        sessions.append(d)

    a = analyze(args.file, on_connection=keep, tls_detail=True, ca_file=args.ca_file,
                keys=ring)
    _report_diagnostics(args, a)
    if args.write_plain:
        _write_plain(args.write_plain, plain)
        _warn(args, f"{args.write_plain}: {len(plain)} decrypted TLS streams written")
    if args.data == "raw":
        out = sys.stdout.buffer
        for chunk in raw:
            out.write(chunk)
        out.flush()
        return EXIT_OK
    if args.format == "json":
        sys.stdout.write(json.dumps({"sessions": sessions}, ensure_ascii=False) + "\n")
    else:
        console = _console(args)
        if not sessions:
            console.print(f"{a.path}: no TLS seen in {a.tcp_streams} TCP streams")
        for s in sessions:
            render_session(s, console, _lang(args))
            if args.data:
                render_data(s, console, _lang(args))
    return EXIT_OK


def cmd_capture(args: argparse.Namespace) -> int:
    import signal
    import time

    from handshaker.capture.live import capture

    stop = {"reason": ""}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["reason"] = "interrupt" if signum == signal.SIGINT else "signal"

    show = not args.quiet and sys.stderr.isatty()
    shown = [0.0]

    def progress(st: Any) -> None:
        now = time.monotonic()
        if show and now - shown[0] >= 0.2:
            shown[0] = now
            sys.stderr.write(f"\r{st.written} packets, {st.bytes} bytes written; "
                             f"{st.kernel_dropped} dropped by the kernel ")
            sys.stderr.flush()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        st = capture(args.interface, args.output, filter_text=args.filter, count=args.count,
                     duration=args.duration, should_stop=lambda: stop["reason"],
                     progress=progress)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if show:
        sys.stderr.write("\n")
    if not args.quiet:
        print(f"handshaker: {args.output}: {st.written} packets ({st.bytes} bytes) from "
              f"{args.interface}; the kernel received {st.kernel_received} and dropped "
              f"{st.kernel_dropped}; stopped by {st.stopped_by}", file=sys.stderr)
    return EXIT_OK


def cmd_live(args: argparse.Namespace) -> int:
    import signal

    from handshaker.capture.live import CaptureStats, LiveCapture, bursts, frame_batch
    from handshaker.live import LiveView

    stop = {"reason": ""}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["reason"] = "interrupt" if signum == signal.SIGINT else "signal"

    console = _console(args)
    view = LiveView(console, lang=_lang(args), ladder=args.ladder)
    stats = CaptureStats()
    if args.filter:
        from handshaker.dissect.filter import compile_filter

        compile_filter(args.filter)
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LiveCapture(args.interface) as live:
            if not args.quiet:
                print(f"handshaker: listening on {args.interface}"
                      f"{f' ({args.filter})' if args.filter else ''}; Ctrl-C stops",
                      file=sys.stderr, flush=True)
            number = 1
            for frames in bursts(live, filter_text=args.filter, count=args.count,
                                 duration=args.duration, should_stop=lambda: stop["reason"],
                                 stats=stats):
                view.feed(frame_batch(frames, live.linktype, number))
                number += len(frames)
                sys.stdout.flush()
            view.close()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if not args.quiet:
        print(f"handshaker: {stats.written} packets; the kernel dropped "
              f"{stats.kernel_dropped}; stopped by {stats.stopped_by}", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from handshaker.render.html import build_report

    ring = _key_ring(args) if (args.keylog or args.rsa_key) else None
    page, counts = build_report(args.file, keys=ring, lang=_lang(args), ca_file=args.ca_file)
    _write_text(args.output, page)
    if not args.quiet and args.output not in (None, "-"):
        print(f"handshaker: {args.output}: {counts['connections']} connections, "
              f"{counts['ladders']} ladders, {counts['frames']} packets in detail",
              file=sys.stderr)
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from pathlib import Path

    from handshaker.lab.run import LAB, lab_scenario, run_lab, show_lab

    lang = _lang(args)
    console = _console(args)
    if args.list or not args.scenario:
        for sc in LAB.values():
            console.print(f"{sc.name:<24} {sc.zh if lang == 'zh' else sc.en}", highlight=False)
        return EXIT_OK
    sc = lab_scenario(args.scenario)
    run = run_lab(sc.name, Path(args.output or f"lab-{sc.name}.pcapng"))
    show_lab(run, console, lang)
    return EXIT_OK


def cmd_tour(args: argparse.Namespace) -> int:
    from handshaker.tour import run_tour

    return run_tour(console=_console(args), lang=_lang(args), chapter=args.chapter,
                    pause=args.pause)


def cmd_batch(args: argparse.Namespace) -> int:
    from handshaker.batch import run_batch

    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j/--jobs: at least 1")

    def line(f: dict[str, Any]) -> None:
        if f["status"] == "failed":
            print(f"failed   {f['path']}: {f['error']}", file=sys.stderr, flush=True)
        elif args.quiet:
            return
        elif f["status"] == "done":
            diag = len(f["diagnostics"])
            print(f"done     {f['path']}: {f['frames']:,} packets, {f['conversations']:,} "
                  f"conversations, {f['tls_sessions']:,} TLS"
                  f"{f', {diag} diagnostics' if diag else ''}, {f['seconds']:.2f} s", flush=True)
        elif "same_as" in f:
            print(f"skipped  {f['path']}: same content as {f['same_as']}", flush=True)
        else:
            print(f"skipped  {f['path']}: done before ({f['conversations']:,} conversations, "
                  f"{f['tls_sessions']:,} TLS)", flush=True)

    r = run_batch(args.paths, args.out, jobs=args.jobs, scheduler=args.scheduler,
                  dask_local=args.dask_local, on_file=line)
    if not args.quiet:
        secs = max(r.seconds, 1e-9)
        print(f"handshaker batch: {len(r.files)} files ({r.count('done')} done, "
              f"{r.count('skipped')} skipped, {r.count('failed')} failed) in {r.seconds:.2f} s: "
              f"{r.bytes_done / 1e6:,.1f} MB at {r.bytes_done / 1e6 / secs:,.1f} MB/s, "
              f"{r.frames_done:,} packets at {r.frames_done / secs:,.0f} packets/s; "
              f"output in {args.out}")
    return EXIT_BAD_INPUT if r.count("failed") else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lang", choices=("en", "zh"), help="language (default: from locale)")
    common.add_argument("--no-color", action="store_true", help="no colours")
    common.add_argument("-q", "--quiet", action="store_true", help="no warnings")

    p = argparse.ArgumentParser(
        prog="handshaker",
        description="See what really happens on the wire when connections are set up and "
                    "torn down.")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", parents=[common], help="one line per connection")
    a.add_argument("files", nargs="+", metavar="FILE", help="pcap/pcapng (gzip ok), - = stdin")
    a.add_argument("--format", choices=("text", "json", "csv"), default="text")
    a.add_argument("--fail-on-anomaly", action="store_true",
                   help="exit 1 when any connection has an anomaly")
    a.add_argument("-j", "--jobs", type=_jobs, default=os.cpu_count() or 1, metavar="N",
                   help="cut a large file (16 MB and more) into parts analysed on N processes "
                        "and stitched, with the same result (default: every core; 1: one pass)")
    a.set_defaults(func=cmd_analyze)

    lad = sub.add_parser("ladder", parents=[common], help="the ladder of one TCP connection")
    lad.add_argument("file", metavar="FILE")
    lad.add_argument("--stream", type=int, required=True, help="tcp.stream number")
    lad.add_argument("--absolute", action="store_true", help="raw Seq/Ack, not relative")
    lad.add_argument("--format", choices=("text", "json", "svg", "mermaid"), default="text",
                     help="svg: a picture for a browser or a document; mermaid: a "
                          "sequenceDiagram for Markdown")
    lad.add_argument("-o", "--output", metavar="FILE",
                     help="write the svg or mermaid here (default: standard output)")
    lad.add_argument("--no-notes", action="store_true", help="arrows only, no explanations")
    lad.add_argument("--ascii", action="store_true", help="plain ASCII arrows")
    lad.add_argument("--ca-file", help="trust these CAs (PEM) for the certificate check "
                                       "instead of the system store")
    lad.set_defaults(func=cmd_ladder)

    lay = sub.add_parser("layers", parents=[common], help="one packet, layer by layer")
    lay.add_argument("file", metavar="FILE")
    lay.add_argument("--frame", type=int, required=True, help="frame number (from 1)")
    lay.add_argument("--format", choices=("text", "json"), default="text")
    lay.set_defaults(func=cmd_layers)

    tls = sub.add_parser("tls", parents=[common], help="every TLS session in detail")
    tls.add_argument("file", metavar="FILE")
    tls.add_argument("--format", choices=("text", "json"), default="text")
    tls.add_argument("--ca-file", help="trust these CAs (PEM) for the certificate check "
                                       "instead of the system store")
    tls.add_argument("--stream", type=int, help="only this TCP stream (tcp.stream number)")
    tls.add_argument("--keylog", action="append", metavar="F",
                     help="an NSS key log (SSLKEYLOGFILE); may be given more than once. A "
                          "pcapng file's own Decryption Secrets Blocks are always used")
    tls.add_argument("--rsa-key", action="append", metavar="K",
                     help="a server's RSA private key (PEM or DER, PKCS#1 or PKCS#8); "
                          "matched to sessions by their certificate; may repeat")
    tls.add_argument("--rsa-key-password", metavar="P",
                     help="the password of an encrypted key (asked for on a terminal "
                          "when missing)")
    tls.add_argument("--data", choices=("text", "hex", "raw"),
                     help="show the decrypted application data, per direction (raw: the "
                          "bytes alone, on stdout)")
    tls.add_argument("--explain-keys", action="store_true",
                     help="show how the keys were derived, with their values: prints "
                          "secrets")
    tls.add_argument("--write-plain", metavar="OUT.pcapng",
                     help="write the decrypted streams as a capture other tools can read")
    tls.set_defaults(func=cmd_tls)

    on_wire = argparse.ArgumentParser(add_help=False)  # what capture and live share
    on_wire.add_argument("-i", "--interface", required=True,
                         help="the interface, e.g. lo or eth0")
    on_wire.add_argument("-f", "--filter", help="keep only what this expression accepts, e.g. "
                                                "'tcp and port 443' (host, net, port, "
                                                "portrange, ip, ip6, tcp, udp, icmp, "
                                                "and/or/not)")
    on_wire.add_argument("-c", "--count", type=int, help="stop after this many packets")
    on_wire.add_argument("--duration", type=float, help="stop after this many seconds")

    cap = sub.add_parser("capture", parents=[common, on_wire],
                         help="capture an interface to a pcapng file (Linux, CAP_NET_RAW)")
    cap.add_argument("-o", "--output", required=True, metavar="OUT.pcapng")
    cap.set_defaults(func=cmd_capture)

    liv = sub.add_parser("live", parents=[common, on_wire],
                         help="connections on an interface as they happen (Linux, CAP_NET_RAW)")
    liv.add_argument("--ladder", action="store_true",
                     help="draw each connection's ladder when it ends")
    liv.set_defaults(func=cmd_live)

    rep = sub.add_parser("report", parents=[common],
                         help="one self-contained HTML page: table, ladders, packets")
    rep.add_argument("file", metavar="FILE")
    rep.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    rep.add_argument("--keylog", action="append", metavar="F", help="as for tls")
    rep.add_argument("--rsa-key", action="append", metavar="K", help="as for tls")
    rep.add_argument("--rsa-key-password", metavar="P")
    rep.add_argument("--ca-file", help="trust these CAs (PEM) for the certificate check")
    rep.set_defaults(func=cmd_report, explain_keys=False)

    lab = sub.add_parser("lab", parents=[common],
                         help="make a real handshake happen on loopback, capture it, show it")
    lab.add_argument("scenario", nargs="?", metavar="SCENARIO",
                     help="what to make happen (--list names them)")
    lab.add_argument("--list", action="store_true", help="the scenarios, one line each")
    lab.add_argument("-o", "--output", metavar="OUT.pcapng",
                     help="where the capture goes (default: lab-SCENARIO.pcapng here)")
    lab.set_defaults(func=cmd_lab)

    bat = sub.add_parser("batch", parents=[common],
                         help="many captures in parallel into Parquet datasets (docs/scale.md)")
    bat.add_argument("paths", nargs="+", metavar="PATH",
                     help="capture files, folders (searched for .pcap, .pcapng, .cap, "
                          ".pcap.gz, .pcapng.gz) or glob patterns")
    bat.add_argument("-o", "--out", required=True, metavar="OUTDIR",
                     help="where the conversations/ and tls/ datasets go; files done there "
                          "before are skipped")
    bat.add_argument("-j", "--jobs", type=int, metavar="N",
                     help="worker processes (default: one per core)")
    where_ = bat.add_mutually_exclusive_group()
    where_.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on the Dask cluster of this scheduler (tcp://host:8786); "
                             "its workers must see the files and OUTDIR at the same paths")
    where_.add_argument("--dask-local", action="store_true",
                        help="run on a Dask LocalCluster of -j worker processes here")
    bat.set_defaults(func=cmd_batch)

    tour = sub.add_parser("tour", parents=[common], help="a guided walk through real captures")
    tour.add_argument("--chapter", help="only this chapter (name or number)")
    tour.add_argument("--no-pause", dest="pause", action="store_false",
                      help="do not wait for Enter between chapters (it never waits when "
                           "input or output is not a terminal)")
    tour.set_defaults(func=cmd_tour)
    return p


def run() -> None:
    """The ``handshaker`` command: :func:`main`, then out at once.

    Python's own shutdown frees every object one by one and collects once more: 33 ms
    after an analysis of the 1M-packet benchmark capture, 1.4% of its time, spent on
    nothing the user sees. What the user sees, the output, is flushed here; every file
    the commands write is closed by them; a run that leaves a thread behind (none
    should) ends the usual way, which waits for it."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        # (None: started with the descriptor closed; OSError: the reader went away; the
        # output has nowhere to go either way)
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    if threading.active_count() == 1:
        os._exit(code)
    sys.exit(code)


class _ClosedOutput(io.TextIOBase):
    """Standard output where the command was started with it closed (``>&-``): the
    first write says so, as an error of the command's (a command that writes nothing
    there runs as usual)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise UsageError("standard output is closed: nowhere to write the output")


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HandshakerError as err:
        print(f"handshaker: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # the reader went away (| head): not an error of ours
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # never a traceback for the user
        if os.environ.get("HANDSHAKER_DEBUG"):
            raise
        where = getattr(args, "file", None) or ", ".join(getattr(args, "files", []) or [])
        print(f"handshaker: internal error while handling {where or 'the command'}: "
              f"{type(err).__name__}: {err} (set HANDSHAKER_DEBUG=1 for details)",
              file=sys.stderr)
        return 3
