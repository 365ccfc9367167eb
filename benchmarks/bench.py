#!/usr/bin/env python3
"""Time ``handshaker analyze`` against tshark on the large benchmark capture.

    python3 benchmarks/bench.py                  # /tmp/bench/bench.pcap, 3 rounds
    python3 benchmarks/bench.py -n 2000 --rounds 5
    python3 benchmarks/bench.py --double          # also a file twice as large
    python3 benchmarks/bench.py --hs-cmd "python3 -c 'import sys; open(sys.argv[1], \"rb\").read()'"

The capture is made (if missing) by ../shared/bench/make_bench_pcap.py into
--dir (default /tmp/bench, never inside the repo). Both tools do the same
job (every TCP connection with its handshake and close, every TLS handshake
with version, suite, key exchange and SNI), their output going to
/dev/null; each runs --rounds times, the order alternating round by round.
Reported: median wall seconds, peak RSS (from ``/usr/bin/time -v`` when
present, else from a fresh wrapper process per measurement that reads its
only child's ru_maxrss), packets per second, and tshark's time divided by
handshaker's (above 1: handshaker is faster).
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT.parent / "shared" / "bench" / "make_bench_pcap.py"
DEFAULT_DIR = Path("/tmp/bench")
DEFAULT_CONNECTIONS = 28250  # the generator's default: ~1.0 M packets, 720 MB
TIME_BIN = Path("/usr/bin/time")

HS_CMD = "handshaker analyze {file} --format json"
# The anchor command of ../shared/bench/README.md (single pass).
TSHARK_FILTER = (
    "tcp.flags.syn==1 or tcp.flags.fin==1 or tcp.flags.reset==1 or "
    "(tcp.seq==1 and tcp.ack==1 and tcp.len==0) or tls.handshake"
)
TSHARK_FIELDS = (
    "frame.time_epoch", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tcp.stream",
    "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tls.handshake.type", "tls.handshake.version",
    "tls.handshake.extensions.supported_version", "tls.handshake.ciphersuite",
    "tls.handshake.extensions_server_name",
)


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run of one command."""

    wall_s: float
    maxrss_kib: int
    returncode: int
    tree_rss_kib: int = 0  # peak of the summed RSS of the process and its children (sampled)


@dataclass(slots=True)
class Row:
    tool: str
    file: str
    packets: int
    runs: list[Run]
    error: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs) if self.runs else float("nan")

    @property
    def peak_rss_mib(self) -> float:
        return max((r.maxrss_kib for r in self.runs), default=0) / 1024

    tree_kib: int = 0  # all its processes at their peak, from the memory round

    @property
    def peak_tree_mib(self) -> float:
        return self.tree_kib / 1024


# --------------------------------------------------------------------------- the capture


DEFAULT_DURATION = 60  # the generator's default: seconds over which flows arrive


def bench_file(directory: Path, connections: int, duration: int = DEFAULT_DURATION) -> Path:
    suffix = "" if connections == DEFAULT_CONNECTIONS else f"-n{connections}"
    if duration != DEFAULT_DURATION:
        suffix += f"-d{duration}"
    return directory / f"bench{suffix}.pcap"


def ensure_capture(path: Path, connections: int, generator: Path,
                   duration: int = DEFAULT_DURATION) -> None:
    if path.exists() and path.stat().st_size > 24:
        return
    if not generator.is_file():
        raise SystemExit(f"bench: generator not found: {generator} (use --generator)")
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({connections} connections) ...", flush=True)
    tmp = path.with_name(path.name + ".part")
    subprocess.run(
        [sys.executable, str(generator), "-o", str(tmp), "--connections", str(connections),
         "--duration", str(duration)],
        check=True,
    )
    tmp.replace(path)


def count_packets(path: Path) -> int:
    """Records in a classic pcap: a walk over the record headers."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        magic = m[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            incl = struct.Struct("<I")
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            incl = struct.Struct(">I")
        else:
            raise SystemExit(f"bench: {path} is not a classic pcap")
        off, n, size = 24, 0, len(m)
        unpack = incl.unpack_from
        while off + 16 <= size:
            off += 16 + unpack(m, off + 8)[0]
            n += 1
    return n


# --------------------------------------------------------------------------- measuring

# Run in a fresh interpreter per measurement: RUSAGE_CHILDREN's ru_maxrss is a
# maximum over every child ever waited for, so only a process whose one and
# only child is the measured command reports that command's peak.
_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "maxrss_kib": peak, "returncode": rc}))
"""

_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


TREE_SAMPLE_S = 0.05


def tree_rss_kib(pid: int) -> int:
    """The memory of a process and all its descendants together, now (from /proc).

    /usr/bin/time reports the largest single process; a command that works on
    several processes (handshaker analyze -j) uses their sum. Each process
    counts its proportional set size (Pss), so that pages forked processes
    share are counted once.
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/smaps_rollup").read_text()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        m = re.search(r"^Pss:\s+(\d+) kB", status, re.M)
        total += int(m.group(1)) if m else 0
    return total


def measure(cmd: list[str], env: dict[str, str], use_time: bool, tree: bool = False) -> Run:
    """Run cmd once, stdout to /dev/null; its stderr goes to bench's stderr only if it fails.

    ``tree``: sample the memory of all its processes (tree_rss_kib) as it runs. Reading
    /proc takes CPU from the command (on 2 cores, 5% of a `-j 2` run's time), so timed
    runs do not sample: the memory of all processes comes from a round of its own.
    """
    with tempfile.TemporaryFile("w+") as err:
        if use_time:
            with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
                t = time.perf_counter()
                proc = subprocess.Popen(
                    [str(TIME_BIN), "-v", "-o", report.name, *cmd],
                    stdout=subprocess.DEVNULL, stderr=err, env=env,
                )
                peak = 0
                if tree:
                    ended = threading.Event()
                    threading.Thread(target=lambda: (proc.wait(), ended.set()),
                                     daemon=True).start()
                    while not ended.is_set():
                        peak = max(peak, tree_rss_kib(proc.pid))
                        ended.wait(TREE_SAMPLE_S)
                proc.wait()
                wall = time.perf_counter() - t
                m = _MAXRSS.search(Path(report.name).read_text())
            run = Run(wall, int(m.group(1)) if m else 0, proc.returncode, peak)
        else:
            wrapped = subprocess.run(
                [sys.executable, "-c", _WRAPPER, *cmd], stdout=subprocess.PIPE, stderr=err,
                text=True, env=env, check=False,
            )
            try:
                data = json.loads(wrapped.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError) as exc:
                raise SystemExit(
                    f"bench: the measuring wrapper failed (rc {wrapped.returncode})"
                ) from exc
            run = Run(float(data["wall_s"]), int(data["maxrss_kib"]), int(data["returncode"]))
        if run.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:]
            print(f"bench: {shlex.join(cmd)} failed:\n{tail}", file=sys.stderr)
    return run


def hs_command(template: str, path: Path) -> list[str]:
    if "{file}" in template:
        cmd = [part.replace("{file}", str(path)) for part in shlex.split(template)]
    else:
        cmd = [*shlex.split(template), str(path)]
    # `handshaker` as pip installed it beside this Python: what PATH finds may be a wrapper
    # (pyenv's shim, a bash script running `pyenv exec`: 55 ms a run on the development
    # machine), which would be timed as handshaker's own
    beside = Path(sys.executable).parent / "handshaker"
    if cmd and cmd[0] == "handshaker" and os.access(beside, os.X_OK):
        cmd[0] = str(beside)
    return cmd


#: the other tools of issue 7's table, where installed (-n: no name lookups, which
#: would otherwise wait on this machine's closed network)
OTHER_TOOLS = {
    "tcptrace": lambda path: ["tcptrace", "-n", "-l", str(path)],
    "ssldump": lambda path: ["ssldump", "-n", "-r", str(path)],
}
# The floor for any Python tool: a walk over the record headers and nothing else.
WALK = """
import struct, sys
with open(sys.argv[1], "rb") as f:
    b = f.read()
unpack, off, n, end = struct.Struct("<I").unpack_from, 24, 0, len(b) - 16
while off <= end:
    off += 16 + unpack(b, off + 8)[0]
    n += 1
print(n)
"""


def tshark_command(path: Path) -> list[str]:
    exe = shutil.which("tshark") or "tshark"
    cmd = [exe, "-r", str(path), "-n", "-Y", TSHARK_FILTER, "-T", "fields"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    return cmd


def compile_package() -> None:
    """Compile handshaker's modules to bytecode again, as an install does (setup.py, for
    an editable one): a module changed since it was installed would otherwise be compiled
    on every run where PYTHONDONTWRITEBYTECODE is set (as on the development machine and
    in CI), 50-80 ms of each for all of them."""
    import compileall

    import handshaker

    compileall.compile_dir(str(Path(handshaker.__file__).parent), quiet=1)


def warm(path: Path) -> None:
    """Read the file once so that every timed run starts from a warm page cache."""
    with path.open("rb") as f:
        while f.read(1 << 22):
            pass


def bench(path: Path, rounds: int, hs_template: str, use_time: bool,
          with_tshark: bool, others: bool = False) -> list[Row]:
    packets = count_packets(path)
    warm(path)
    conf = tempfile.mkdtemp(prefix="bench-tshark-conf-")
    # tshark with no personal preferences (ORACLES.md).
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf)
    tools = {"handshaker": hs_command(hs_template, path)}
    if with_tshark:
        tools["tshark"] = tshark_command(path)
    if others:
        tools.update({name: make(path) for name, make in OTHER_TOOLS.items()
                      if shutil.which(name)})
        tools["python-walk"] = [sys.executable, "-c", WALK, str(path)]
    rows = {name: Row(name, path.name, packets, []) for name in tools}
    order = list(tools)
    for i in range(rounds):
        for name in order if i % 2 == 0 else reversed(order):
            row = rows[name]
            if row.error:
                continue
            run = measure(tools[name], env, use_time)
            print(f"  round {i + 1}/{rounds} {name:11s} {run.wall_s:8.2f} s "
                  f"{run.maxrss_kib / 1024:8.1f} MiB rc={run.returncode}", flush=True)
            if run.returncode != 0:
                row.error = f"exit status {run.returncode}: {shlex.join(tools[name])}"
                continue
            row.runs.append(run)
    if use_time:  # the memory round: all processes sampled (not timed, see measure)
        for name in order:
            row = rows[name]
            if row.error:
                continue
            run = measure(tools[name], env, use_time, tree=True)
            print(f"  memory round {name:11s} all processes "
                  f"{run.tree_rss_kib / 1024:.1f} MiB rc={run.returncode}", flush=True)
            row.tree_kib = run.tree_rss_kib
    shutil.rmtree(conf, ignore_errors=True)
    return list(rows.values())


# --------------------------------------------------------------------------- report


def table(rows: list[Row]) -> str:
    head = ("tool", "file", "packets", "median s", "pkts/s", "peak RSS MiB",
            "all processes MiB", "tool/hs")
    lines = [head]
    by_file: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_file.setdefault(row.file, {})[row.tool] = row
    for row in rows:
        if row.error or not row.runs:
            lines.append((row.tool, row.file, f"{row.packets:,}", "failed", "", "", "", ""))
            continue
        hs = by_file[row.file].get("handshaker")
        ratio = ""
        if row is not hs and hs and hs.runs and not hs.error:
            ratio = f"{row.median_s / hs.median_s:.2f}"
        lines.append((
            row.tool, row.file, f"{row.packets:,}", f"{row.median_s:.2f}",
            f"{row.packets / row.median_s:,.0f}", f"{row.peak_rss_mib:,.1f}",
            f"{row.peak_tree_mib:,.1f}" if row.peak_tree_mib else "", ratio,
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for k, line in enumerate(lines):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                    strict=True))]
        out.append("| " + " | ".join(cells) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) if i < 2 else "-" * (w + 1) + ":"
                                      for i, w in enumerate(widths)) + "|")
    out += [f"{row.tool} on {row.file} failed: {row.error}" for row in rows if row.error]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="time handshaker analyze against tshark on the benchmark capture")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                    help=f"where the captures live (default {DEFAULT_DIR}; not in the repo)")
    ap.add_argument("-n", "--connections", type=int, default=DEFAULT_CONNECTIONS,
                    help=f"flows in the capture (default {DEFAULT_CONNECTIONS}, ~1.0 M packets)")
    ap.add_argument("--double", action="store_true",
                    help="also make and time a capture twice as large: twice the connections "
                         "arriving over twice the time (the same traffic, for longer)")
    ap.add_argument("--scale", type=int, nargs="+", metavar="K",
                    help="time captures K times as large (K times the connections over K "
                         "times the time), e.g. --scale 1 2 5: memory should stay flat")
    ap.add_argument("--others", action="store_true",
                    help="also time tcptrace -l, ssldump and a Python walk over the record "
                         "headers (the floor of any Python tool)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per tool and file (default 3)")
    ap.add_argument("--hs-cmd", default=HS_CMD,
                    help=f"handshaker's command; {{file}} is replaced by the capture, else "
                         f"the capture is appended (default: {HS_CMD!r})")
    ap.add_argument("--no-tshark", action="store_true", help="time handshaker only")
    ap.add_argument("--generator", type=Path, default=GENERATOR,
                    help="make_bench_pcap.py (default: ../shared/bench/)")
    ap.add_argument("--json", type=Path, help="also write the measurements here as JSON")
    ap.add_argument("--no-time-bin", action="store_true",
                    help="measure peak RSS with getrusage even if /usr/bin/time is present")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.connections < 1:
        ap.error("--rounds and --connections must be positive")
    if args.dir.resolve().is_relative_to(ROOT):
        ap.error(f"--dir must be outside the repository ({ROOT})")
    with_tshark = not args.no_tshark
    if with_tshark and shutil.which("tshark") is None:
        ap.error("tshark is not installed (or pass --no-tshark)")
    use_time = TIME_BIN.exists() and not args.no_time_bin

    scales = args.scale or ([1, 2] if args.double else [1])
    sizes = [(k * args.connections, k * DEFAULT_DURATION) for k in scales]
    files = [bench_file(args.dir, n, d) for n, d in sizes]
    for path, (n, d) in zip(files, sizes, strict=True):
        ensure_capture(path, n, args.generator, d)

    compile_package()
    rows: list[Row] = []
    for path in files:
        print(f"{path}: {path.stat().st_size / 1e6:,.1f} MB", flush=True)
        rows += bench(path, args.rounds, args.hs_cmd, use_time, with_tshark, args.others)
    how = "/usr/bin/time -v" if use_time else "getrusage(RUSAGE_CHILDREN) in a fresh wrapper"
    print()
    print(f"{args.rounds} rounds, order alternated; medians; peak RSS by {how} (the largest "
          "process), and of all its processes together, sampled every "
          f"{TREE_SAMPLE_S * 1000:.0f} ms in a round of its own (not timed); tool/hs above "
          "1: handshaker is faster")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(
            [{**asdict(r), "median_s": r.median_s, "peak_rss_mib": r.peak_rss_mib} for r in rows],
            indent=1))
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
