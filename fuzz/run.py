"""Run the fuzz targets with atheris (coverage-guided, libFuzzer underneath).

    python fuzz/run.py TARGET [--seconds S]     # one target
    python fuzz/run.py --all [--seconds S]      # each target in turn (CI: a short run)

Each target starts from seeds made from the captures, key logs and keys shipped
with handshaker (``seeds``), and runs for S seconds in its own process. A crash
(any exception but a HandshakerError, a hang past the timeout, a run past the
memory limit) is written to ``fuzz/crashes/TARGET-…``: copy it to
``fuzz/regressions/TARGET/`` once fixed, where tests/test_fuzz_regressions.py
replays it for ever. The exit status is 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: per input: libFuzzer's -timeout (s) and -rss_limit_mb
TIMEOUT_S = 10
RSS_LIMIT_MB = 2048


def seeds(target: str) -> list[bytes]:
    """Starting inputs for a target, made from handshaker's own shipped data."""
    from importlib import resources

    data = resources.files("handshaker") / "data"
    caps = [(data / n).read_bytes() for n in ("tour-tcp.pcap", "tour-tls12-rsa.pcap",
                                              "tour-tls13.pcap", "tour-udp.pcap")]
    if target == "capture":
        return caps
    frames = []
    import io

    from handshaker.capture.reader import _open_stream

    for raw in caps:
        with _open_stream("<seed>", io.BytesIO(raw), None, 1 << 16) as cap:
            frames += [f.data for f in cap]
    if target == "packet":
        return [b"\x01" + f for f in frames[:20]]  # link type index 1 of the sorted table
    if target == "tls":
        return [f[66:] for f in frames if len(f) > 80 and f[66:67] == b"\x16"][:10]
    if target == "x509":
        from handshaker.analysis import analyze

        with tempfile.NamedTemporaryFile(suffix=".pcap") as tmp:
            tmp.write(caps[1])
            tmp.flush()
            a = analyze(tmp.name, keep_tcp=lambda n: True, tls_detail=True)
        obs = a.kept[0].observer
        return list(getattr(obs, "_certs", [])) or [b"0"]
    if target == "keylog":
        return [(data / n).read_bytes() for n in ("tour-tls12-rsa.keylog", "tour-tls13.keylog")]
    if target == "reassembly":
        return [bytes(range(64)), b"\x00" * 80]
    if target == "decrypt":
        return [bytes((i * 37) & 0xFF for i in range(400)), bytes(300)]
    return [b""]


def fuzz(target: str, seconds: int) -> int:
    """Run one target in this process (atheris takes it over); returns libFuzzer's status."""
    import atheris

    # every module a target reaches, imported here so that atheris instruments it
    # (a module imported later, inside a target, would give no coverage)
    with atheris.instrument_imports(include=["handshaker"]):
        import handshaker.analysis
        import handshaker.capture.reader
        import handshaker.dissect.packet
        import handshaker.flow.reassembly
        import handshaker.render.layers
        import handshaker.tls.certs
        import handshaker.tls.decrypt
        import handshaker.tls.keys
        import handshaker.tls.messages
        import handshaker.tls.observer
        import handshaker.tls.records  # noqa: F401
    import targets

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
    for i, seed in enumerate(seeds(target)):
        (corpus / f"seed-{i}").write_bytes(seed)
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)

    def one(data: bytes) -> None:
        targets.run_one(target, data)

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={seconds}",
                   f"-timeout={TIMEOUT_S}", f"-rss_limit_mb={RSS_LIMIT_MB}",
                   f"-artifact_prefix={crashes}/{target}-", "-print_final_stats=1"], one)
    atheris.Fuzz()
    return 0


#: the targets of targets.py (named here so that this process imports nothing of handshaker
#: before atheris instruments it)
NAMES = ("capture", "decrypt", "keylog", "packet", "reassembly", "tls", "x509")


def main() -> int:
    p = argparse.ArgumentParser(description="fuzz handshaker with atheris")
    p.add_argument("target", nargs="?", choices=NAMES)
    p.add_argument("--all", action="store_true", help="every target, one after another")
    p.add_argument("--seconds", type=int, default=60, help="per target")
    p.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.in_process:
        return fuzz(args.target, args.seconds)
    names = list(NAMES) if args.all else [args.target]
    if not names or names == [None]:
        p.error("name a target or give --all")
    failed = []
    for name in names:
        print(f"== fuzz {name}: {args.seconds} s", flush=True)
        r = subprocess.run([sys.executable, __file__, name, "--seconds", str(args.seconds),
                            "--in-process"], check=False)
        if r.returncode != 0:
            failed.append(name)
    if failed:
        print(f"fuzz: crashes in {', '.join(failed)} (see {HERE / 'crashes'})", flush=True)
        return 1
    print(f"fuzz: {len(names)} targets, {args.seconds} s each, no crash", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
