"""``handshaker batch``: many captures at once, into two Parquet datasets.

Theory of operation
-------------------

Each capture file is one job, run by a worker (a local process pool, or
the workers of a Dask cluster). A worker analyses its file with
:func:`handshaker.analysis.analyze`, which hands over each connection as
soon as it is over, flattens it into a row after the JSON contract
(``render.json_out.connection_dict``; docs/json.md) and writes the rows, in
row groups of :data:`ROW_GROUP_ROWS`, straight into ``OUTDIR``::

    OUTDIR/
      conversations/capture=NAME/part-0.parquet   one row per TCP/UDP conversation
      tls/capture=NAME/part-0.parquet             one row per TLS session
      _manifests/SHA256.json                      the file is done: written last
      _failed/SHA256.json                         the file could not be read
      _tmp/                                       work in progress

``NAME`` is the file's name made safe plus the first 12 hex digits of the
SHA-256 of its bytes, so two files of the same name in different folders
land in different partitions (hive-style: DuckDB, pyarrow and Spark read
``capture`` as a column).

A file is identified by the SHA-256 of its content, not by its path. The
batch runs in two rounds: first every file is hashed (in parallel, by the
workers), then only files whose hash has no manifest yet are analysed; a
file whose content was already seen in this run is analysed once.

Committing a file: both Parquet files are written under ``_tmp/`` and
moved into their partitions with ``os.replace`` (atomic within one file
system); the manifest, written to a temporary name and renamed in the same
way, comes last and is the mark that the file is done. A batch stopped at
any point therefore loses nothing: a file without a manifest is analysed
again on the next run, and its partitions, if a half-finished commit left
them, are replaced. Leftovers in ``_tmp/`` are removed when a run starts,
so one batch at a time writes to an ``OUTDIR``.

Workers write their own output, so ``OUTDIR`` and the input files must be
at the same paths for the driver and every worker: one machine, or a
shared file system (NFS, Lustre, CephFS, ...) on a cluster.

Damage inside a capture becomes diagnostics (kept in the manifest), as in
``analyze``; a file that cannot be read at all (a
:class:`~handshaker.errors.HandshakerError`, or any other error of one
file) is recorded in ``_failed/`` and the batch goes on. pyarrow and
distributed are imported only when a batch runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from handshaker.analysis import analyze
from handshaker.errors import HandshakerError, UsageError, where
from handshaker.render.json_out import capture_dict, connection_dict, tls_brief

#: a directory is searched (recursively) for files whose names end so
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
#: rows a Parquet row group holds (and a worker keeps in memory per dataset)
ROW_GROUP_ROWS = 50_000
#: version of the Parquet schemas and the manifest (kept in each file's metadata)
SCHEMA_VERSION = 1
CONVERSATIONS, TLS = "conversations", "tls"
MANIFESTS, FAILED, TMP = "_manifests", "_failed", "_tmp"
PART_FILE = "part-0.parquet"
HASH_CHUNK = 1 << 20
NAME_MAX = 80

# -- the schemas ---------------------------------------------------------------------
# (column, type, meaning). The types are Arrow's, as the docs name them; the same
# tables are the reference in docs/scale.md (tests/test_batch.py checks that they agree).

_CAPTURE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("capture_path", "string", "the capture file, as an absolute path"),
    ("capture_sha256", "string", "SHA-256 of the capture file's bytes (hex)"),
)

CONVERSATION_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *_CAPTURE_COLUMNS,
    ("proto", "string", "`tcp` or `udp`"),
    ("stream", "int64", "Wireshark's `tcp.stream` / `udp.stream` in that file"),
    ("client_ip", "string", "the client's address (the SYN sender; for UDP the first sender)"),
    ("client_port", "int32", "the client's port"),
    ("server_ip", "string", "the server's address"),
    ("server_port", "int32", "the server's port"),
    ("role_guess", "string", "null when a SYN told the roles; otherwise how they were guessed"),
    ("first_frame", "int64", "number of the conversation's first frame (from 1)"),
    ("last_frame", "int64", "number of its last frame"),
    ("start_time", "timestamp[ns, UTC]", "time of the first packet (capture time)"),
    ("end_time", "timestamp[ns, UTC]", "time of the last packet"),
    ("duration", "float64", "seconds from the first packet to the last"),
    ("packets", "int64", "packets, both directions"),
    ("packets_c2s", "int64", "packets from the client"),
    ("packets_s2c", "int64", "packets from the server"),
    ("bytes_c2s", "int64", "TCP/UDP payload bytes from the client"),
    ("bytes_s2c", "int64", "TCP/UDP payload bytes from the server"),
    ("wire_bytes_c2s", "int64", "frame bytes on the wire from the client"),
    ("wire_bytes_s2c", "int64", "frame bytes on the wire from the server"),
    ("handshake", "string", "TCP handshake: `complete`, `simultaneous_open`, `refused`, "
                            "`syn_unanswered`, `no_final_ack`, `syn_not_captured`, `not_seen`; "
                            "null for UDP"),
    ("client_isn", "int64", "the client's raw initial sequence number"),
    ("server_isn", "int64", "the server's raw initial sequence number"),
    ("handshake_frames", "list<int64>", "frames of the SYN, SYN+ACK and final ACK, as seen"),
    ("rtt_ms", "float64", "SYN to the first ACK, milliseconds (`tcp.analysis.initial_rtt`)"),
    ("syn_retransmissions", "int32", "times the SYN was sent again"),
    ("synack_retransmissions", "int32", "times the SYN+ACK was sent again"),
    ("syn_backoff_ms", "list<float64>", "gaps between the SYNs, when it was sent again"),
    ("close", "string", "TCP close: `four_way`, `three_way`, `simultaneous`, `half_closed`, "
                        "`fin_unanswered`, `reset`, `none`; null for UDP"),
    ("close_initiator", "string", "`client` or `server`: who sent the first FIN (or RST)"),
    ("close_frames", "list<int64>", "frames of the close (FIN, ACK, FIN, ACK; or the RST)"),
    ("close_after", "string", "for `reset`: `syn`, `mid_stream` or `after_fin`"),
    ("time_wait", "string", "who ends in TIME_WAIT: `client`, `server` or `both`"),
    ("half_close_data", "bool", "the other side still sent data after the first FIN"),
    ("reset_after", "int64", "a RST that followed a FIN exchange: its frame"),
    ("conn_state", "string", "Zeek's conn_state (`S0`, `SF`, `REJ`, `RSTO`, ...)"),
    ("history", "string", "Zeek's history letters, upper case for the client"),
    ("client_mss", "int32", "MSS option of the client's SYN"),
    ("client_wscale", "int32", "window scale option of the client's SYN"),
    ("client_sack_permitted", "bool", "the client's SYN allowed SACK"),
    ("client_timestamps", "bool", "the client's SYN carried timestamps"),
    ("client_tfo", "bool", "the client's SYN carried a TCP Fast Open option"),
    ("server_mss", "int32", "MSS option of the server's SYN+ACK"),
    ("server_wscale", "int32", "window scale option of the server's SYN+ACK"),
    ("server_sack_permitted", "bool", "the server's SYN+ACK allowed SACK"),
    ("server_timestamps", "bool", "the server's SYN+ACK carried timestamps"),
    ("server_tfo", "bool", "the server's SYN+ACK carried a TCP Fast Open option"),
    ("window_scaling", "bool", "TCP: both sides announced window scaling, so it is in use"),
    ("one_to_many", "string", "UDP: `broadcast` or `multicast` destination, else null"),
    ("anomalies", "list<string>", "tshark's `tcp.analysis` names, one per occurrence, in order "
                                  "(`retransmission`, `duplicate_ack`, `lost_segment`, ...)"),
    ("anomaly_frames", "list<int64>", "the frame of each anomaly, in the same order"),
    ("tls", "bool", "the stream carried TLS (a row in the `tls` dataset)"),
)

TLS_COLUMNS: tuple[tuple[str, str, str], ...] = (
    *_CAPTURE_COLUMNS,
    ("stream", "int64", "the TCP stream (`tcp.stream`): joins `conversations` where "
                        "`proto = 'tcp'`"),
    ("client_ip", "string", "the TLS client's address (the ClientHello sender)"),
    ("client_port", "int32", "the TLS client's port"),
    ("server_ip", "string", "the TLS server's address"),
    ("server_port", "int32", "the TLS server's port"),
    ("first_frame", "int64", "the TCP stream's first frame"),
    ("start_time", "timestamp[ns, UTC]", "time of the TCP stream's first packet"),
    ("version", "string", "negotiated version, e.g. `TLS 1.2`, `TLS 1.3`"),
    ("cipher_suite", "int32", "the chosen cipher suite's code (e.g. 4865 for 0x1301)"),
    ("cipher_suite_name", "string", "its IANA name, e.g. `TLS_AES_128_GCM_SHA256`"),
    ("key_exchange", "string", "`rsa`, `dhe`, `ecdhe`, `dh`, `ecdh`, `psk`, ... (TLS <= 1.2); "
                               "`tls13_ecdhe`, `tls13_dhe`, `psk_ecdhe`, `psk_dhe`, `psk` "
                               "(TLS 1.3)"),
    ("forward_secrecy", "bool", "a key obtained later cannot decrypt the session"),
    ("forward_secrecy_reason", "string", "why, in one English sentence"),
    ("group", "string", "the named group (ECDHE curve, key share) or the DH prime size"),
    ("sni", "string", "server name indication"),
    ("alpn_offered", "list<string>", "ALPN protocols the client offered"),
    ("alpn_selected", "string", "the server's ALPN choice (encrypted, so null, in TLS 1.3)"),
    ("resumed", "bool", "the handshake resumed an earlier session"),
    ("resumption", "string", "how: `session_id`, `ticket` or `psk`"),
    ("client_auth", "bool", "the client sent a certificate"),
    ("hello_retry_request", "bool", "TLS 1.3: the server sent a HelloRetryRequest"),
    ("hello_retry_group", "string", "the group the HelloRetryRequest asked for"),
    ("alerts", "list<string>", "alert names in order (`handshake_failure`, ...; "
                               "`encrypted_alert` when it could not be read)"),
    ("alert_frames", "list<int64>", "the frame of each alert, in the same order"),
    ("ja3", "string", "JA3 of the ClientHello (MD5, hex)"),
    ("ja3s", "string", "JA3S of the ServerHello"),
    ("ja4", "string", "JA4 of the ClientHello"),
    ("client_hello_ms", "float64", "milliseconds from the TCP stream's first packet to "
                                   "the ClientHello"),
    ("server_hello_ms", "float64", "... to the ServerHello"),
    ("client_finished_ms", "float64", "... to the client's Finished (when visible)"),
    ("server_finished_ms", "float64", "... to the server's Finished (when visible)"),
    ("client_application_data_ms", "float64", "... to the client's first application data"),
    ("server_application_data_ms", "float64", "... to the server's first application data"),
    ("close", "string", "how the TLS session ended as far as followed: `close_notify`, "
                        "`fatal_alert`, `encrypted_alert`, `reset`, or null"),
    ("diagnostics", "list<string>", "damage found in this session's records"),
)

_TIMINGS = ("client_hello", "server_hello", "client_finished", "server_finished",
            "client_application_data", "server_application_data")


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name.startswith("list<"):
        return pa.list_(_arrow_type(name[5:-1]))
    if name == "timestamp[ns, UTC]":
        return pa.timestamp("ns", tz="UTC")
    return {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(),
            "float64": pa.float64(), "bool": pa.bool_()}[name]


@cache
def schema(dataset: str) -> Any:
    """The pyarrow schema of ``conversations`` or ``tls`` (the same for every file)."""
    import pyarrow as pa

    columns = CONVERSATION_COLUMNS if dataset == CONVERSATIONS else TLS_COLUMNS
    return pa.schema([pa.field(n, _arrow_type(t)) for n, t, _ in columns],
                     metadata={"handshaker.dataset": dataset,
                               "handshaker.schema": str(SCHEMA_VERSION)})


# -- rows ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CaptureId:
    path: str
    sha256: str


def conversation_row(c: Any, capture: CaptureId) -> dict[str, Any]:
    """One row of ``conversations``: the JSON contract's connection, flattened."""
    d = connection_dict(c)
    hs = d["handshake"] or {}
    cl = d["close"] or {}
    opts = d.get("options") or {}
    co, so = opts.get("client") or {}, opts.get("server") or {}
    return {
        "capture_path": capture.path,
        "capture_sha256": capture.sha256,
        "proto": d["proto"],
        "stream": d["stream"],
        "client_ip": d["client"]["ip"],
        "client_port": d["client"]["port"],
        "server_ip": d["server"]["ip"],
        "server_port": d["server"]["port"],
        "role_guess": d["role_guess"],
        "first_frame": d["first_frame"],
        "last_frame": d["last_frame"],
        "start_time": c.first_ts_ns,  # the exact integer, not the contract's float seconds
        "end_time": c.last_ts_ns,
        "duration": d["duration"],
        "packets": d["packets"],
        "packets_c2s": d["packets_dir"]["c2s"],
        "packets_s2c": d["packets_dir"]["s2c"],
        "bytes_c2s": d["bytes"]["c2s"],
        "bytes_s2c": d["bytes"]["s2c"],
        "wire_bytes_c2s": d["wire_bytes"]["c2s"],
        "wire_bytes_s2c": d["wire_bytes"]["s2c"],
        "handshake": hs.get("state"),
        "client_isn": hs.get("client_isn"),
        "server_isn": hs.get("server_isn"),
        "handshake_frames": hs.get("frames"),
        "rtt_ms": hs.get("rtt_ms"),
        "syn_retransmissions": hs.get("syn_retransmissions"),
        "synack_retransmissions": hs.get("synack_retransmissions"),
        "syn_backoff_ms": hs.get("syn_backoff_ms"),
        "close": cl.get("kind"),
        "close_initiator": cl.get("initiator"),
        "close_frames": cl.get("frames"),
        "close_after": cl.get("after"),
        "time_wait": cl.get("time_wait"),
        "half_close_data": cl.get("half_close_data"),
        "reset_after": cl.get("reset_after"),
        "conn_state": d["conn_state"],
        "history": d["history"],
        **{f"{side}_{k}": o.get(k) for side, o in (("client", co), ("server", so))
           for k in ("mss", "wscale", "sack_permitted", "timestamps", "tfo")},
        "window_scaling": opts.get("window_scaling"),
        "one_to_many": d.get("one_to_many"),
        "anomalies": [a["kind"] for a in d["anomalies"]],
        "anomaly_frames": [a["frame"] for a in d["anomalies"]],
        "tls": d["tls"] is not None,
    }


def tls_row(c: Any, capture: CaptureId) -> dict[str, Any]:
    """One row of ``tls`` for a TCP connection that carried TLS (``c.tls`` is set):
    the contract's brief session (``tls_brief``), flattened."""
    s = c.tls
    d = tls_brief(s)
    client = s.client or (c.client.ip, c.client.port)
    server = s.server or (c.server.ip, c.server.port)
    suite = d["cipher_suite"] or {}
    timing = d["timing_ms"]
    return {
        "capture_path": capture.path,
        "capture_sha256": capture.sha256,
        "stream": d["stream"],
        "client_ip": client[0],
        "client_port": client[1],
        "server_ip": server[0],
        "server_port": server[1],
        "first_frame": c.first_frame,
        "start_time": c.first_ts_ns,
        "version": d["version"],
        "cipher_suite": suite.get("id"),
        "cipher_suite_name": suite.get("name"),
        "key_exchange": d["key_exchange"],
        "forward_secrecy": d["forward_secrecy"],
        "forward_secrecy_reason": d["forward_secrecy_reason"],
        "group": d["group"],
        "sni": d["sni"],
        "alpn_offered": d["alpn"]["offered"],
        "alpn_selected": d["alpn"]["selected"],
        "resumed": d["resumed"],
        "resumption": d["resumption"],
        "client_auth": d["client_auth"],
        "hello_retry_request": d["hello_retry_request"],
        "hello_retry_group": d["hello_retry_group"],
        "alerts": [a["name"] for a in d["alerts"]],
        "alert_frames": [a["frame"] for a in d["alerts"]],
        "ja3": d["ja3"],
        "ja3s": d["ja3s"],
        "ja4": d["ja4"],
        **{f"{k}_ms": timing.get(k) for k in _TIMINGS},
        "close": d["close"],
        "diagnostics": list(d["diagnostics"]),
    }


class _PartWriter:
    """One Parquet file, written a row group at a time (memory: one group of rows)."""

    def __init__(self, path: str, dataset: str) -> None:
        import pyarrow.parquet as pq

        self.schema = schema(dataset)
        self.rows: list[dict[str, Any]] = []
        self.count = 0
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._writer.close()  # no rows at all: a valid file with the schema, no row group


# -- inputs --------------------------------------------------------------------------

def _is_capture_name(name: str) -> bool:
    return name.lower().endswith(CAPTURE_SUFFIXES)


def _walk(top: str) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(top):  # symbolic links to folders are not followed
        dirs.sort()
        found.extend(os.path.join(root, f) for f in sorted(files) if _is_capture_name(f))
    return found


def expand_inputs(paths: Sequence[str]) -> list[str]:
    """The capture files that ``paths`` name, as absolute paths, each once, in order.

    A file is taken whatever its name; a directory is searched recursively for
    :data:`CAPTURE_SUFFIXES`; a glob pattern (``*``, ``?``, ``[...]``, ``**``) is
    expanded, and each match taken as a file or searched as a directory. A path
    that does not exist, or a pattern that matches nothing, is a
    :class:`~handshaker.errors.UsageError` (before any work is done).
    """
    import glob

    out: list[str] = []
    seen: set[str] = set()

    def take(p: str) -> None:
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(os.path.abspath(p))

    for p in paths:
        if os.path.isdir(p):
            matches = [p]
        elif os.path.exists(p):
            take(p)
            continue
        elif any(ch in p for ch in "*?["):
            matches = sorted(glob.glob(p, recursive=True))
            if not matches:
                raise UsageError(f"{p}: matches no file")
        else:
            raise UsageError(f"{p}: no such file or directory")
        for m in matches:
            for f in (_walk(m) if os.path.isdir(m) else [m]):
                take(f)
    if not out:
        raise UsageError(f"no capture files ({', '.join(CAPTURE_SUFFIXES)}) in "
                         f"{', '.join(paths)}")
    return out


def partition_name(path: str, sha256: str) -> str:
    """The file's hive partition value: its name made safe, and 12 hex digits of its hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(path)).strip("._") or "capture"
    return f"{safe[:NAME_MAX]}-{sha256[:12]}"


# -- the jobs (run by the workers) ---------------------------------------------------

def hash_file(path: str) -> dict[str, Any]:
    """``{"path", "sha256", "size"}`` of one file, read in chunks; ``{"path", "error"}``
    when it cannot be read."""
    h = hashlib.sha256()
    buf = bytearray(HASH_CHUNK)
    view = memoryview(buf)
    size = 0
    try:
        with open(path, "rb") as f:
            while n := f.readinto(buf):
                h.update(view[:n])
                size += n
    except OSError as err:
        return {"path": path, "error": f"cannot read: {err.strerror or err}"}
    return {"path": path, "sha256": h.hexdigest(), "size": size}


def _write_json(path: str, obj: dict[str, Any]) -> None:
    """``obj`` to ``path`` atomically: a temporary name beside it, then a rename."""
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _error_text(err: BaseException) -> str:
    """One line saying what went wrong, without the file's path (the line names it)."""
    if isinstance(err, HandshakerError):
        at = where(None, err.frame, err.offset, err.field)
        return f"{at}: {err.reason}" if at else err.reason
    return f"internal error: {type(err).__name__}: {err}"


def process_file(job: dict[str, Any]) -> dict[str, Any]:
    """Analyse one capture into ``job["out"]`` and commit it (the worker's job).

    ``job``: ``path``, ``sha256``, ``size``, ``partition``, ``out``. Returns the
    manifest: ``status`` is ``done`` or ``failed`` (with ``error``).
    """
    t0 = time.perf_counter()
    path, sha, out, part = job["path"], job["sha256"], job["out"], job["partition"]
    capture = CaptureId(path, sha)
    tmp = os.path.join(out, TMP, f"{part}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    files = {name: os.path.join(tmp, f"{name}.parquet") for name in (CONVERSATIONS, TLS)}
    base = {"schema": SCHEMA_VERSION, "path": path, "sha256": sha, "size": job["size"],
            "partition": part}
    try:
        conv = _PartWriter(files[CONVERSATIONS], CONVERSATIONS)
        try:
            tls = _PartWriter(files[TLS], TLS)
            try:
                def take(c: Any) -> None:
                    conv.add(conversation_row(c, capture))
                    if getattr(c, "tls", None) is not None:
                        tls.add(tls_row(c, capture))

                a = analyze(path, on_connection=take)
            finally:
                tls.close()
        finally:
            conv.close()
        for name, src in files.items():
            dest = os.path.join(out, name, f"capture={part}")
            if os.path.isdir(dest):  # left by a commit that was cut short: not done
                shutil.rmtree(dest)
            os.makedirs(dest)
            os.replace(src, os.path.join(dest, PART_FILE))
        manifest = {**base, "status": "done", **capture_dict(a), "path": path,
                    CONVERSATIONS: conv.count, "tls_sessions": tls.count,
                    "seconds": round(time.perf_counter() - t0, 3)}
        _write_json(os.path.join(out, MANIFESTS, f"{sha}.json"), manifest)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(out, FAILED, f"{sha}.json"))
        return manifest
    except Exception as err:  # one file's problem must not stop the batch
        failed = {**base, "status": "failed", "error": _error_text(err),
                  "seconds": round(time.perf_counter() - t0, 3)}
        with contextlib.suppress(OSError):
            _write_json(os.path.join(out, FAILED, f"{sha}.json"), failed)
        return failed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- running the jobs ----------------------------------------------------------------

#: runs ``fn`` over items in parallel: yields (item, result or the exception it raised)
Runner = Callable[[Callable[[Any], Any], Sequence[Any]], Iterator[tuple[Any, Any]]]


def _run_inline(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    for item in items:
        try:
            yield item, fn(item)
        except Exception as err:
            yield item, err


@contextlib.contextmanager
def _process_pool(workers: int) -> Iterator[Runner]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from handshaker.procs import end_with_parent

    pool = ProcessPoolExecutor(max_workers=workers, initializer=end_with_parent,
                               initargs=(os.getpid(),))

    def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
        futures = {pool.submit(fn, item): item for item in items}
        for fut in as_completed(futures):
            item = futures.pop(fut)
            try:
                yield item, fut.result()
            except Exception as err:  # a worker died (BrokenProcessPool): that job failed
                yield item, err

    try:
        yield run
    finally:  # on Ctrl-C, the files not started are not waited for
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_import() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError("--scheduler and --dask-local need dask's distributed: "
                         "pip install 'handshaker[batch]'") from None
    return distributed


@contextlib.contextmanager
def _dask(address: str | None, workers: int) -> Iterator[Runner]:
    """Jobs on a Dask cluster: the one at ``address``, or a LocalCluster of ``workers``
    worker processes (one thread each: the analysis holds the GIL)."""
    import logging

    distributed = _dask_import()
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(address, timeout="30s"))
            except OSError as err:
                raise UsageError(f"--scheduler {address}: cannot connect ({err})") from None

        def run(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
            futures = client.map(fn, list(items), pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in distributed.as_completed(futures):
                item = items[index[fut.key]]
                try:
                    yield item, fut.result()
                except Exception as err:  # e.g. KilledWorker: the file killed its workers
                    yield item, err
                fut.release()

        yield run


# -- the batch -----------------------------------------------------------------------

@dataclass(slots=True)
class BatchResult:
    """What a batch did: one manifest-like dict per file, with its ``status``
    (``done``, ``skipped``, ``failed``), and the totals of the files done."""

    files: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f["status"] == status)

    @property
    def bytes_done(self) -> int:
        return sum(f["size"] for f in self.files if f["status"] == "done")

    @property
    def frames_done(self) -> int:
        return sum(f["frames"] for f in self.files if f["status"] == "done")


def _done_before(out: str, h: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of a file already done, when it and both its partitions exist."""
    try:
        with open(os.path.join(out, MANIFESTS, f"{h['sha256']}.json"), encoding="utf-8") as f:
            m: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    if m.get("status") != "done" or m.get("schema") != SCHEMA_VERSION:
        return None
    part = f"capture={m['partition']}"
    if not all(os.path.isfile(os.path.join(out, d, part, PART_FILE)) for d in (CONVERSATIONS, TLS)):
        return None
    return m


def _prepare(out: str) -> None:
    try:
        for d in (CONVERSATIONS, TLS, MANIFESTS, FAILED):
            os.makedirs(os.path.join(out, d), exist_ok=True)
        shutil.rmtree(os.path.join(out, TMP), ignore_errors=True)  # an interrupted run's
        os.makedirs(os.path.join(out, TMP), exist_ok=True)
    except OSError as err:
        raise UsageError(f"{out}: cannot write ({err.strerror or err})") from None


def run_batch(
    paths: Sequence[str],
    out: str,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    dask_local: bool = False,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> BatchResult:
    """Analyse the captures that ``paths`` name (see :func:`expand_inputs`) into the
    Parquet datasets under ``out``, skipping files done before (by content hash).

    ``jobs``: worker processes on this machine (default: one per core; 1 runs
    in this process). ``scheduler``: the address of a Dask scheduler whose
    workers do the jobs (they must see the files and ``out`` at the same
    paths); ``dask_local``: a Dask LocalCluster of ``jobs`` worker processes.
    ``on_file(entry)`` is called as each file is finished, skipped or failed.
    """
    try:
        import pyarrow  # noqa: F401  (the workers need it: fail here, once, if it is missing)
    except ImportError:
        raise UsageError("handshaker batch needs pyarrow: "
                         "pip install 'handshaker[batch]'") from None
    t0 = time.perf_counter()
    files = expand_inputs(paths)
    out = os.path.abspath(out)
    _prepare(out)
    workers = max(1, jobs or os.cpu_count() or 1)
    result = BatchResult()

    def report(entry: dict[str, Any]) -> None:
        result.files.append(entry)
        if on_file is not None:
            on_file(entry)

    if scheduler is not None or dask_local:
        runner: contextlib.AbstractContextManager[Runner] = _dask(scheduler, workers)
    elif workers == 1 or len(files) == 1:
        runner = contextlib.nullcontext(_run_inline)
    else:
        runner = _process_pool(min(workers, len(files)))
    with runner as run:
        hashed: dict[str, dict[str, Any]] = {}
        for path, h in run(hash_file, files):
            hashed[path] = h if isinstance(h, dict) else {"path": path, "error": _error_text(h)}
        todo: list[dict[str, Any]] = []
        first: dict[str, str] = {}  # sha256 -> the path that stands for it in this run
        for path in files:  # in input order, so that the same content keeps the same name
            h = hashed[path]
            if "error" in h:
                report({"status": "failed", "path": path, "error": h["error"], "size": 0})
            elif h["sha256"] in first:
                report({"status": "skipped", "path": path, "sha256": h["sha256"],
                        "size": h["size"], "same_as": first[h["sha256"]]})
            else:
                first[h["sha256"]] = path
                m = _done_before(out, h)
                if m is not None:
                    report({**m, "status": "skipped", "path": path})
                else:
                    todo.append({**h, "partition": partition_name(path, h["sha256"]),
                                 "out": out})
        for job, r in run(process_file, todo):
            if isinstance(r, dict):
                report(r)
            else:  # the worker itself was lost: recorded here, as process_file would have
                failed = {"schema": SCHEMA_VERSION, "status": "failed", "path": job["path"],
                          "sha256": job["sha256"], "size": job["size"],
                          "partition": job["partition"], "error": _error_text(r)}
                with contextlib.suppress(OSError):
                    _write_json(os.path.join(out, FAILED, f"{job['sha256']}.json"), failed)
                report(failed)
    result.seconds = time.perf_counter() - t0
    return result

