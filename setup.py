"""The compiled helpers (see src/handshaker/compiled.py): the classic-pcap record walk,
the TCP tracker's lanes and the lean TLS hello readers.

All are optional: where they cannot be built (no C compiler), the package installs
without them and runs their pure-Python twins, which give the same answers.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension(name, [source], optional=True, extra_compile_args=["-O2"])
    for name, source in (("handshaker.capture._walk", "src/handshaker/capture/_walk.c"),
                         ("handshaker.flow._lane", "src/handshaker/flow/_lane.c"),
                         ("handshaker.tls._hello", "src/handshaker/tls/_hello.c"))
])
