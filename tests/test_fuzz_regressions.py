"""Every input the fuzzers found a crash with (fuzz/regressions/TARGET/), replayed for ever,
and every target once over the seeds it starts from: only a HandshakerError may escape."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
sys.path.insert(0, str(FUZZ))

from run import NAMES, seeds  # noqa: E402
from targets import TARGETS, run_one  # noqa: E402

REGRESSIONS = sorted(p for p in (FUZZ / "regressions").glob("*/*") if p.is_file())


def test_every_target_is_named() -> None:
    assert set(NAMES) == set(TARGETS)


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regression(path: Path) -> None:
    run_one(path.parent.name, path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds(target: str) -> None:
    for seed in seeds(target):
        run_one(target, seed)
