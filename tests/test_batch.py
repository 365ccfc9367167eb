"""``handshaker batch``: many captures into Parquet, checked against ``analyze --format json``.

The oracle for every row is the JSON contract of the same file (docs/json.md), read
through the command line; the datasets are read back with pyarrow and DuckDB, and the
batch is run on a local process pool and on a real Dask cluster of worker processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from handshaker.batch import (
    CONVERSATION_COLUMNS,
    TLS_COLUMNS,
    expand_inputs,
    partition_name,
    schema,
)
from handshaker.cli import main
from handshaker.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "handshaker" / "data"
#: small corpus captures with TLS of every kind, a gzip one and an empty one
#: (provenance: ../shared/corpus/MANIFEST.md)
CORPUS_PICKS = (
    "ja4/tls-handshake.pcapng",  # 59 TLS 1.3 / 1.2 handshakes, QUIC over UDP, lost segments
    "lekensteyn/all/all.pcapng",  # 73 TLS 1.2 suites: rsa, dhe, ecdhe, ecdh
    "ssldump/tls1.3_curl_google.pcap",  # DNS over UDP + TLS 1.3, ALPN
    "scapy/tls_tcp_frag_withnss.pcap.gz",  # gzip input; a handshake split across segments
    "junkie/https/dokuwiki.pcap",  # TLS 1.0 RSA, ticket resumption
    "zeek/tls/dhe.pcap",
    "tcpdump/empty.pcapng",  # no packets: empty partitions with the same schema
)


def cli(*args: str) -> tuple[int, str, str]:
    """``handshaker ARGS`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def analyze_json(path: Path | str) -> dict[str, Any]:
    code, out, err = cli("analyze", str(path), "--format", "json", "-q")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, timestamps as integer nanoseconds (datetime would round them)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def read_dataset(out: Path, name: str) -> pa.Table:
    return ds.dataset(out / name, format="parquet", partitioning="hive").to_table()


def sorted_rows(out: Path, name: str) -> list[dict[str, Any]]:
    return sorted(table_rows(read_dataset(out, name)),
                  key=lambda r: (r["capture"], r.get("proto", ""), r["stream"]))


def tree_state(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every output file's bytes and modification time."""
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """A folder of captures: the shipped ones, corpus picks, and two files of the same
    name in different folders (different content)."""
    top = tmp_path_factory.mktemp("batch-in")
    shutil.copytree(DATA, top / "shipped", ignore=shutil.ignore_patterns("*.md", "*.keylog",
                                                                         "*.pem"))
    for rel in CORPUS_PICKS:
        dest = top / "corpus" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / rel, dest)
    for sub, src in (("a", "tcpdump/dns_udp.pcap"), ("b", "tcpdump/tcp-handshake-nano.pcap")):
        (top / "same-name" / sub).mkdir(parents=True)
        shutil.copyfile(corpus / src, top / "same-name" / sub / "x.pcap")
    (top / "notes.txt").write_text("not a capture: a folder search leaves it out\n")
    return top


@pytest.fixture(scope="module")
def files(inputs: Path) -> list[Path]:
    found = sorted(p for p in inputs.rglob("*") if p.is_file() and p.suffix != ".txt")
    assert len(found) == 7 + len(CORPUS_PICKS) + 2
    return found


@pytest.fixture(scope="module")
def oracle(files: list[Path]) -> dict[str, dict[str, Any]]:
    """``handshaker analyze FILE --format json`` of every input, by absolute path."""
    return {str(p): analyze_json(p) for p in files}


@pytest.fixture(scope="module")
def pool_run(inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One batch over the whole folder on a local process pool of 2 workers."""
    out = tmp_path_factory.mktemp("batch-out") / "out"
    code, stdout, stderr = cli("batch", str(inputs), "-o", str(out), "-j", "2")
    assert code == 0, stderr
    return out, stdout


def expected_conversation(c: dict[str, Any]) -> dict[str, Any]:
    """What a `conversations` row holds for one connection of the JSON contract."""
    hs, cl = c["handshake"] or {}, c["close"] or {}
    return {
        "proto": c["proto"], "stream": c["stream"],
        "client_ip": c["client"]["ip"], "client_port": c["client"]["port"],
        "server_ip": c["server"]["ip"], "server_port": c["server"]["port"],
        "role_guess": c["role_guess"],
        "first_frame": c["first_frame"], "last_frame": c["last_frame"],
        "duration": c["duration"], "packets": c["packets"],
        "packets_c2s": c["packets_dir"]["c2s"], "packets_s2c": c["packets_dir"]["s2c"],
        "bytes_c2s": c["bytes"]["c2s"], "bytes_s2c": c["bytes"]["s2c"],
        "wire_bytes_c2s": c["wire_bytes"]["c2s"], "wire_bytes_s2c": c["wire_bytes"]["s2c"],
        "handshake": hs.get("state"), "client_isn": hs.get("client_isn"),
        "server_isn": hs.get("server_isn"), "handshake_frames": hs.get("frames"),
        "rtt_ms": hs.get("rtt_ms"), "close": cl.get("kind"),
        "close_initiator": cl.get("initiator"), "close_frames": cl.get("frames"),
        "conn_state": c["conn_state"], "history": c["history"],
        "anomalies": [a["kind"] for a in c["anomalies"]],
        "anomaly_frames": [a["frame"] for a in c["anomalies"]],
        "tls": c["tls"] is not None,
    }


def expected_tls(c: dict[str, Any]) -> dict[str, Any]:
    t = c["tls"]
    suite = t["cipher_suite"] or {}
    return {
        "stream": c["stream"], "first_frame": c["first_frame"],
        "client_ip": c["client"]["ip"], "server_port": c["server"]["port"],
        "version": t["version"], "cipher_suite": suite.get("id"),
        "cipher_suite_name": suite.get("name"), "key_exchange": t["key_exchange"],
        "forward_secrecy": t["forward_secrecy"], "group": t["group"], "sni": t["sni"],
        "alpn_offered": t["alpn"]["offered"], "alpn_selected": t["alpn"]["selected"],
        "resumed": t["resumed"], "resumption": t["resumption"],
        "alerts": [a["name"] for a in t["alerts"]], "ja3": t["ja3"], "ja3s": t["ja3s"],
        "ja4": t["ja4"], "close": t["close"],
        "client_hello_ms": t["timing_ms"].get("client_hello"),
        "server_hello_ms": t["timing_ms"].get("server_hello"),
    }


def test_rows_equal_analyze_json_file_by_file(
        pool_run: tuple[Path, str], oracle: dict[str, dict[str, Any]]) -> None:
    out, _ = pool_run
    conversations = read_dataset(out, "conversations")
    tls = read_dataset(out, "tls")
    by_path: dict[str, list[dict[str, Any]]] = {}
    for r in table_rows(conversations):
        by_path.setdefault(r["capture_path"], []).append(r)
    tls_by_path: dict[str, list[dict[str, Any]]] = {}
    for r in table_rows(tls):
        tls_by_path.setdefault(r["capture_path"], []).append(r)
    assert set(by_path) <= set(oracle)
    total_tls = 0
    for path, doc in oracle.items():
        conns = doc["connections"]
        rows = sorted(by_path.get(path, []), key=lambda r: r["first_frame"])
        assert len(rows) == len(conns), path
        for row, c in zip(rows, sorted(conns, key=lambda c: c["first_frame"]), strict=True):
            assert {k: row[k] for k in expected_conversation(c)} == expected_conversation(c)
            assert row["start_time"] / 1e9 == pytest.approx(c["start_time"], abs=1e-6)
            assert row["end_time"] - row["start_time"] == round(c["duration"] * 1e9)
        want_tls = [expected_tls(c) for c in conns if c["tls"] is not None]
        got_tls = sorted(tls_by_path.get(path, []), key=lambda r: r["first_frame"])
        assert len(got_tls) == len(want_tls), path
        assert [{k: r[k] for k in w} for r, w in zip(got_tls, want_tls, strict=True)] == want_tls
        total_tls += len(want_tls)
    assert total_tls >= 140  # the picks hold TLS of many kinds


def test_one_partition_per_file(pool_run: tuple[Path, str], files: list[Path],
                                oracle: dict[str, dict[str, Any]]) -> None:
    out, stdout = pool_run
    manifests = [json.loads(p.read_text()) for p in (out / "_manifests").glob("*.json")]
    assert sorted(m["path"] for m in manifests) == sorted(str(p) for p in files)
    for m in manifests:
        assert m["status"] == "done"
        assert m["partition"] == partition_name(m["path"], m["sha256"])
        doc = oracle[m["path"]]
        assert m["frames"] == doc["capture"]["frames"]
        assert m["conversations"] == len(doc["connections"])
        assert m["tls_sessions"] == sum(c["tls"] is not None for c in doc["connections"])
        assert m["diagnostics"] == doc["capture"]["diagnostics"]
        for name in ("conversations", "tls"):
            part = out / name / f"capture={m['partition']}" / "part-0.parquet"
            t = pq.read_table(part)
            assert t.schema.equals(schema(name)), part  # the same types, also when empty
            assert set(t.column("capture_sha256").to_pylist()) <= {m["sha256"]}
            assert set(t.column("capture_path").to_pylist()) <= {m["path"]}
        assert f"done     {m['path']}: {m['frames']:,} packets" in stdout
    # two files named x.pcap: two partitions, each with its own rows
    xs = [m for m in manifests if m["path"].endswith("x.pcap")]
    assert len({m["partition"] for m in xs}) == 2
    assert all(m["partition"].startswith("x.pcap-") for m in xs)
    # the empty capture: partitions with no rows
    (empty,) = [m for m in manifests if m["path"].endswith("empty.pcapng")]
    assert empty["frames"] == 0 and empty["conversations"] == 0
    assert "handshaker batch: 16 files (16 done, 0 skipped, 0 failed)" in stdout
    assert " MB/s, " in stdout and " packets/s" in stdout
    assert not list((out / "_tmp").iterdir())


def test_duckdb_counts_key_exchanges_across_files(
        pool_run: tuple[Path, str], oracle: dict[str, dict[str, Any]]) -> None:
    out, _ = pool_run
    got = duckdb.sql(
        f"SELECT key_exchange, count(*) FROM read_parquet('{out}/tls/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1").fetchall()
    want = Counter(c["tls"]["key_exchange"] for doc in oracle.values()
                   for c in doc["connections"] if c["tls"] is not None)
    assert dict(got) == dict(want)
    assert {"rsa", "dhe", "ecdhe", "ecdh", "tls13_ecdhe"} <= set(want)
    # and the partition column names the file
    per_file = dict(duckdb.sql(
        f"SELECT capture, count(*) FROM read_parquet('{out}/conversations/**/*.parquet', "
        "hive_partitioning=true) GROUP BY 1").fetchall())
    partitions = {m["path"]: m["partition"] for m in
                  (json.loads(p.read_text()) for p in (out / "_manifests").glob("*.json"))}
    for path, doc in oracle.items():
        assert per_file.get(partitions[path], 0) == len(doc["connections"])


def test_rerun_skips_everything_and_changes_nothing(
        pool_run: tuple[Path, str], inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(pool_run[0], out, copy_function=shutil.copy2)
    before = tree_state(out)
    code, stdout, stderr = cli("batch", str(inputs), "-o", str(out), "-j", "2")
    assert code == 0, stderr
    assert stdout.count("skipped  ") == 16 and "done     " not in stdout
    assert "(0 done, 16 skipped, 0 failed)" in stdout
    assert tree_state(out) == before


def test_interrupted_batch_redoes_only_the_unfinished_file(
        pool_run: tuple[Path, str], inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(pool_run[0], out, copy_function=shutil.copy2)
    before = tree_state(out)
    want = sorted_rows(out, "conversations"), sorted_rows(out, "tls")
    # killed between moving its partitions in and writing its manifest, with another
    # worker's half-written file left in _tmp/
    victim = next(p for p in (out / "_manifests").glob("*.json")
                  if json.loads(p.read_text())["path"].endswith("all.pcapng"))
    m = json.loads(victim.read_text())
    victim.unlink()
    part = out / "conversations" / f"capture={m['partition']}" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:100])  # a partition cut short
    (out / "_tmp" / "x.pcap-0123456789ab.999.deadbeef").mkdir()
    (out / "_tmp" / "x.pcap-0123456789ab.999.deadbeef" / "tls.parquet").write_bytes(b"PAR1")

    code, stdout, stderr = cli("batch", str(inputs), "-o", str(out), "-j", "2")
    assert code == 0, stderr
    assert [ln.split()[1] for ln in stdout.splitlines() if ln.startswith("done")] == [
        f"{m['path']}:"]
    assert stdout.count("skipped  ") == 15
    assert (sorted_rows(out, "conversations"), sorted_rows(out, "tls")) == want
    after = tree_state(out)
    assert not list((out / "_tmp").iterdir())
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {f"_manifests/{m['sha256']}.json",
                       f"conversations/capture={m['partition']}/part-0.parquet",
                       f"tls/capture={m['partition']}/part-0.parquet"}


def test_damaged_and_unreadable_captures_among_good_ones(tmp_path: Path, corpus: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    good = corpus / "ssldump" / "tls1.3_curl_google.pcap"
    shutil.copyfile(good, src / "good.pcap")
    shutil.copyfile(DATA / "tour-tls13.pcap", src / "same-content.pcap")
    shutil.copyfile(DATA / "tour-tls13.pcap", src / "same-content-again.pcap")
    (src / "cut.pcap").write_bytes(good.read_bytes()[:3000])  # ends inside a record
    (src / "text.pcap").write_text("hello, not a capture\n")
    (src / "zero.pcapng").write_bytes(b"")
    out = tmp_path / "out"
    code, stdout, stderr = cli("batch", str(src), "-o", str(out), "-j", "2")
    assert code == 2
    failed = sorted(ln for ln in stderr.splitlines() if ln.startswith("failed"))
    assert len(failed) == 2
    assert failed[0].startswith(f"failed   {src / 'text.pcap'}: byte offset 0: not a capture")
    assert failed[1].startswith(f"failed   {src / 'zero.pcapng'}: byte offset 0: empty file")
    assert "(3 done, 1 skipped, 2 failed)" in stdout
    assert f"skipped  {src / 'same-content.pcap'}: same content as " \
           f"{src / 'same-content-again.pcap'}" in stdout
    records = [json.loads(p.read_text()) for p in (out / "_failed").glob("*.json")]
    assert sorted(r["path"] for r in records) == [str(src / "text.pcap"),
                                                  str(src / "zero.pcapng")]
    assert all(r["status"] == "failed" and r["error"] for r in records)
    manifests = {json.loads(p.read_text())["path"]: json.loads(p.read_text())
                 for p in (out / "_manifests").glob("*.json")}
    cut = manifests[str(src / "cut.pcap")]
    assert [d["message"] for d in cut["diagnostics"]] == [
        "file ends inside a record: 1601 of 4282 bytes present"]
    assert cut["conversations"] == len(analyze_json(src / "cut.pcap")["connections"]) == 2
    assert "1 diagnostics" in stdout
    # a second run tries the failed files again, and only them
    code, stdout, stderr = cli("batch", str(src), "-o", str(out), "-q")
    assert code == 2 and stdout == ""
    assert len(stderr.splitlines()) == 2


def test_dask_cluster_gives_the_same_output_as_the_pool(
        pool_run: tuple[Path, str], inputs: Path, tmp_path: Path) -> None:
    want = {name: sorted_rows(pool_run[0], name) for name in ("conversations", "tls")}

    def manifests(out: Path) -> dict[str, dict[str, Any]]:
        return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "seconds"}
                for p in (out / "_manifests").glob("*.json")}

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        out = tmp_path / "scheduler"
        code, stdout, stderr = cli("batch", str(inputs), "-o", str(out), "--scheduler",
                                   cluster.scheduler_address)
        assert code == 0, stderr
        # the jobs ran as tasks on the cluster's two worker processes
        assert {"hash_file", "process_file"} <= set(cluster.scheduler.task_prefixes)
        assert len(cluster.scheduler.workers) == 2
    assert "(16 done, 0 skipped, 0 failed)" in stdout
    for name, rows in want.items():
        assert sorted_rows(out, name) == rows
    assert manifests(out) == manifests(pool_run[0])

    out = tmp_path / "dask-local"
    code, stdout, stderr = cli("batch", str(inputs), "-o", str(out), "--dask-local", "-j", "2")
    assert code == 0, stderr
    for name, rows in want.items():
        assert sorted_rows(out, name) == rows


def test_inputs_files_folders_and_globs(inputs: Path, files: list[Path],
                                        tmp_path: Path) -> None:
    assert expand_inputs([str(inputs)]) == sorted(str(p) for p in files)
    shipped = expand_inputs([str(inputs / "shipped" / "*.pcap"),
                             str(inputs / "**" / "tour-tcp.pcap")])
    assert [os.path.basename(p) for p in shipped] == sorted(
        p.name for p in DATA.glob("*.pcap"))  # the second pattern's match was taken already
    odd = tmp_path / "odd name=1%.CAP"
    shutil.copyfile(DATA / "tour-tcp.pcap", odd)
    (tmp_path / "skip.pcap.txt").write_text("")
    assert expand_inputs([str(tmp_path)]) == [str(odd)]
    name = partition_name(str(odd), "ab" * 32)
    assert name == "odd_name_1_.CAP-abababababab"
    with pytest.raises(UsageError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.pcap")])
    with pytest.raises(UsageError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.pcapng")])
    code, _, stderr = cli("batch", str(tmp_path / "nothing*.pcap"), "-o", str(tmp_path / "o"))
    assert code == 2 and "matches no file" in stderr


def test_docs_describe_every_column() -> None:
    doc = (ROOT / "docs" / "scale.md").read_text()
    for dataset, columns in (("conversations", CONVERSATION_COLUMNS), ("tls", TLS_COLUMNS)):
        section = doc.split(f"### `{dataset}`", 1)[1].split("###", 1)[0]
        for column, arrow_type, _ in columns:
            assert f"| `{column}` | `{arrow_type}` |" in section, (dataset, column)
        assert section.count("\n| `") == len(columns) + 1  # and the partition column
    assert "## Speed per core" in doc


def test_rows_go_out_in_row_groups(monkeypatch: pytest.MonkeyPatch, corpus: Path,
                                   tmp_path: Path) -> None:
    import handshaker.batch

    monkeypatch.setattr(handshaker.batch, "ROW_GROUP_ROWS", 10)
    src = corpus / "lekensteyn" / "all" / "all.pcapng"  # 73 TLS connections
    code, _, stderr = cli("batch", str(src), "-o", str(tmp_path / "out"), "-j", "1", "-q")
    assert code == 0, stderr
    (part,) = (tmp_path / "out" / "conversations").glob("*/part-0.parquet")
    meta = pq.ParquetFile(part).metadata
    assert meta.num_rows == 73 and meta.num_row_groups == 8
    want = [c["first_frame"] for c in analyze_json(src)["connections"]]
    assert pq.read_table(part).column("first_frame").to_pylist() == want


def test_pool_workers_end_with_a_killed_parent(tmp_path: Path) -> None:
    """A batch killed outright (SIGKILL, the OOM killer) takes its pool's workers with it;
    they used to wait for work for good (handshaker.procs.end_with_parent)."""
    import signal
    import subprocess
    import sys
    import time

    from capture_writers import pcap_records

    data = (DATA / "tour-tls12-ecdhe.pcap").read_bytes()
    body = b"".join(data[off:off + 16 + h[2]] for off, h in pcap_records(data)[3])
    copies = (32 << 20) // len(body) + 1
    for i in range(4):  # four files of 32 MB, each its own content (its snaplen field)
        header = data[:16] + (65535 + i).to_bytes(4, "little") + data[20:24]
        (tmp_path / f"c{i}.pcap").write_bytes(header + body * copies)
    p = subprocess.Popen([sys.executable, "-m", "handshaker", "batch", str(tmp_path), "-o",
                          str(tmp_path / "out"), "-j", "2", "-q"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while len(children) < 2 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
            children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        assert len(children) >= 2
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=20)
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{c}").exists() for c in children) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not [c for c in children if Path(f"/proc/{c}").exists()]
    finally:
        for pid in (p.pid, *map(int, children)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        p.wait()
