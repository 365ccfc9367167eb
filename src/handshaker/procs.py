"""Child processes: when this process may fork, and children that end with their parent.

Used by split runs and ``handshaker batch`` (their process pools) and by the gzip
inflating child (capture/source.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from typing import Any

#: prctl(2): the signal a process gets when its parent ends (Linux)
PR_SET_PDEATHSIG = 1


def fork_safe() -> bool:
    """Whether this process may fork a child that goes on running Python: on POSIX, with
    no other thread running (one might hold a lock the child would then wait on forever,
    a progress bar's for one)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def libc_prctl() -> Any:
    """libc's prctl(2), or None (not Linux). Looked up before a fork, it spares the
    child a dlopen."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def end_with_parent(parent: int, prctl: Any = None) -> None:
    """Have Linux send this process a SIGTERM when its parent (pid ``parent``) ends, and
    exit now if it has ended already. A child whose parent is killed outright (SIGKILL,
    the OOM killer) would otherwise go on: a pool worker waiting for work forever, its
    pipe held open by the other workers (seen: two left behind by a test that killed its
    run). ``prctl``: :func:`libc_prctl`, looked up before the fork."""
    prctl = prctl or libc_prctl()
    if prctl is not None:
        with contextlib.suppress(OSError):
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent went before that
        os._exit(1)
