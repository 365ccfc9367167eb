"""The compiled fast lane of the TCP tracker (src/handshaker/flow/_lane.c).

It is optional: where it cannot be built (no C compiler), the package installs
without it and runs the same lane in Python (flow/tcp.py says how both agree).
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("handshaker.flow._lane", ["src/handshaker/flow/_lane.c"],
                             optional=True, extra_compile_args=["-O2"])])
