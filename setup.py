"""The compiled helpers (see src/handshaker/compiled.py): the record walks of classic pcap
and pcapng, the columnar decoder, the TCP tracker's lanes and the lean TLS hello readers.

All are optional: where they cannot be built (no C compiler), the package installs
without them and runs their pure-Python twins, which give the same answers.
Everything else about the package is in pyproject.toml.
"""

import compileall
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    """Builds the helpers; for an editable install (built in place) also compiles the
    package's modules to bytecode, as installing a wheel does: where
    PYTHONDONTWRITEBYTECODE is set, Python would otherwise compile every module it
    imports on every run (60 ms of a small capture's analyze)."""

    def run(self) -> None:
        super().run()
        if self.inplace:
            compileall.compile_dir(str(Path(__file__).parent / "src" / "handshaker"), quiet=1)


setup(cmdclass={"build_ext": BuildExt}, ext_modules=[
    Extension(name, [source], optional=True, extra_compile_args=["-O2"])
    for name, source in (("handshaker.capture._walk", "src/handshaker/capture/_walk.c"),
                         ("handshaker.dissect._decode", "src/handshaker/dissect/_decode.c"),
                         ("handshaker.flow._lane", "src/handshaker/flow/_lane.c"),
                         ("handshaker.tls._hello", "src/handshaker/tls/_hello.c"))
])
