"""The generation benchmark's work accounting, against counts done by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "generation_throughput", Path(__file__).parents[1] / "benchmarks" / "generation_throughput.py")
bench = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = bench  # dataclasses look their module up there
SPEC.loader.exec_module(bench)

# two prompts sharing two tokens; answers of 2 and 3 tokens (stop token counted)
PROMPTS = [[1, 2, 3], [1, 2, 4, 5]]
ANSWERS = [2, 3]


def test_harness_pads_prompts_and_carries_finished_rows():
    work = bench.harness_work(PROMPTS, ANSWERS, batch=2, layers=10.0, head=1.0)
    # prompts: 2 rows x 4 tokens (padded) x 10 + 2 last-token heads; decoding: 2 rows x 2 steps x 11
    assert work.prompt * 1e12 == pytest.approx(2 * 4 * 10 + 2)
    assert work.decode * 1e12 == pytest.approx(2 * 2 * 11)


def test_harness_batches_are_longest_first():
    work = bench.harness_work(PROMPTS, ANSWERS, batch=1, layers=10.0, head=1.0)
    assert work.prompt * 1e12 == pytest.approx((4 + 3) * 10 + 2)
    assert work.decode * 1e12 == pytest.approx((2 + 1) * 11)


def test_least_work_runs_each_distinct_prefix_once():
    work = bench.least_work(PROMPTS, ANSWERS, layers=10.0, head=1.0)
    # prefixes 1 / 1,2 / 1,2,3 / 1,2,4 / 1,2,4,5
    assert work.prompt * 1e12 == pytest.approx(5 * 10 + 2)
    assert work.decode * 1e12 == pytest.approx((1 + 2) * 11)


def test_adapter_work_decodes_each_row_to_its_own_end():
    work = bench.adapter_work(PROMPTS, ANSWERS, [[1], [0]], layers=10.0, head=1.0)
    assert work.prompt * 1e12 == pytest.approx((4 + 3) * 10 + 2)
    assert work.decode * 1e12 == pytest.approx((1 + 2) * 11)
