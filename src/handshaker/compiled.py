"""The optional compiled helpers and how they are chosen.

setup.py builds four small C extensions where a C compiler is at hand:
``handshaker.capture._walk`` (the record walks of classic pcap and pcapng, and the
4-tuples of a batch), ``handshaker.dissect._decode`` (the columnar decoder),
``handshaker.flow._lane`` (the TCP tracker's lanes) and ``handshaker.tls._hello`` (the
lean ClientHello and ServerHello readers). Each has a pure-Python (or numpy) twin that
gives the same answers, used when the extension was not built or when the environment
sets ``HANDSHAKER_PURE_PYTHON`` (tests/test_compiled.py runs both;
tests/test_columnar.py holds both decoders to the reference decoder).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

#: set (to anything but the empty string) to run without the compiled helpers
PURE_PYTHON_ENV = "HANDSHAKER_PURE_PYTHON"


def helper(name: str) -> Any:
    """The compiled module ``name``, or None (not built, or pure Python asked for)."""
    if os.environ.get(PURE_PYTHON_ENV):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
