"""Run the tests that drive the compiled helpers with the helpers built under
AddressSanitizer and UndefinedBehaviorSanitizer.

The helpers (setup.py) read untrusted bytes: capture records, packet headers, TLS
hellos. A read past a buffer's end seldom crashes and never fails a test by itself;
under the sanitizers it aborts the run, naming the line. Here the helpers are built
into a temporary copy of the package (the installed one is left as it is), and
pytest runs on that copy with the sanitizers' runtimes preloaded into the
(uninstrumented) interpreter and every process it starts.

What it cannot see: a read past the bytes a helper was told of but inside the same
allocation (a chunk buffer's spare room). Why not the whole suite: it would take
three times as long; its memory bounds mean nothing under the sanitizers; and
Wireshark's capinfos hangs with their runtimes preloaded (test_capture_live).

    python scripts/sanitized_tests.py            # the tests below
    python scripts/sanitized_tests.py tests/x.py # these instead (and -options for pytest)

Needs a C compiler with the sanitizers (gcc or clang); exits 1 if the helpers
cannot be built so, or a test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
HELPERS = ("capture/_walk", "dissect/_decode", "flow/_lane", "tls/_hello")
#: the tests that feed the helpers good, damaged and random input (two minutes here)
TESTS = ("test_compiled.py", "test_columnar.py", "test_capture.py", "test_capture_formats.py",
         "test_capture_damage.py", "test_damage_corpus.py", "test_fuzz_regressions.py",
         "test_split.py", "test_tls_hello.py", "test_tls_lean.py", "test_flow_random.py")


def runtime(name: str) -> str:
    """The compiler's shared runtime ``name`` (libasan.so, libubsan.so), as a path."""
    cc = os.environ.get("CC", "cc")
    found = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True,
                           check=True).stdout.strip()
    if not os.path.isabs(found):  # the compiler echoes the name when it has none
        sys.exit(f"sanitized_tests: {cc} has no {name}")
    return found


def build(into: Path) -> None:
    """The package's modules and its helpers, built with the sanitizers, in ``into``."""
    env = dict(os.environ, CFLAGS=FLAGS, LDFLAGS="-fsanitize=address,undefined")
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(into),
                    "--build-temp", str(into.parent / "objects")],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.copytree(ROOT / "src" / "handshaker", into / "handshaker", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for helper in HELPERS:
        # (setup.py's helpers are optional: a build that fails there only warns)
        built = list((into / "handshaker").glob(f"{helper}.*.so"))
        if not built or b"__asan_report" not in built[0].read_bytes():
            sys.exit(f"sanitized_tests: {helper} was not built with the sanitizers")


def sanitized_env(lib: Path) -> dict[str, str]:
    """This environment, with the package in ``lib`` first and the sanitizers on."""
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(filter(None, [str(lib), os.environ.get("PYTHONPATH")])),
               LD_PRELOAD=f"{runtime('libasan.so')} {runtime('libubsan.so')}",
               # (the interpreter keeps its objects to the end: leaks are not ours)
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               # every object its own allocation, not a slot of pymalloc's pools: a read past
               # a small object's end is then one past an allocation's, which the sanitizer sees
               PYTHONMALLOC="malloc")
    env.pop("HANDSHAKER_PURE_PYTHON", None)
    return env


def main(argv: list[str]) -> int:
    tests = [a for a in argv if not a.startswith("-")] or [str(ROOT / "tests" / n) for n in TESTS]
    options = [a for a in argv if a.startswith("-")]
    with tempfile.TemporaryDirectory(prefix="handshaker-sanitized-") as tmp:
        lib = Path(tmp) / "lib"
        build(lib)
        env = sanitized_env(lib)
        modules = [f"handshaker.{h.replace('/', '.')}" for h in HELPERS]
        loaded = subprocess.run(
            [sys.executable, "-c", "import importlib, sys\n"
             "for m in sys.argv[1:]: print(importlib.import_module(m).__file__)", *modules],
            env=env, capture_output=True, text=True, check=True).stdout.split()
        if len(loaded) != len(HELPERS) or not all(f.startswith(str(lib)) for f in loaded):
            sys.exit(f"sanitized_tests: the sanitized helpers are not the ones loaded: {loaded}")
        # (--capture=sys: a sanitizer's report goes to the real stderr, not to the file
        # pytest keeps for a test that never ends)
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--capture=sys", *options, *tests], env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
