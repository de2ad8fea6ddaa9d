"""The benchmark's CPU breakdown (``gankit.cpu_breakdown``): what it counts, and its estimate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gankit import NOTEBOOKS
from gankit.benchmark import where_serial_cpu_goes
from gankit.cpu_breakdown import Breakdown, Cost, cpu_account, forked_kernels

BURN = """
import time
ends = time.process_time() + 0.4
while time.process_time() < ends:
    pass
print(time.process_time())
"""


def test_cpu_account_counts_what_a_child_process_spent():
    with cpu_account("test") as cpu:
        done = subprocess.run([sys.executable, "-c", BURN], capture_output=True, text=True, check=True)
        counted = cpu()
    spent = float(done.stdout)  # the child's own count of its CPU time
    # All of it, plus at most Python's start-up and this process's own share of the wait.
    assert spent <= counted <= spent + 0.5, (spent, counted)


def test_the_warm_estimate_is_a_third_of_a_sandbox_plus_a_forked_kernel():
    zero = Cost(0.0, 0.0)
    breakdown = Breakdown(
        sandbox=Cost(0.03, 0.003),
        kernel_kit=Cost(0.70, 0.05),
        kernel_plain=zero,
        kernel_forked=Cost(0.35, 0.01),
        execute_kit=Cost(1.30, 0.05),
        execute_plain=zero,
    )
    assert len(NOTEBOOKS) == 3
    assert breakdown.warm_kit_kernel == pytest.approx(0.01 + 0.35)
    assert breakdown.saving == pytest.approx(0.70 - 0.36)
    split, warm = where_serial_cpu_goes(serial=1.9, checks=0.2, plain=1.5, breakdown=breakdown)
    # 1.9 = 1.3 executed + 0.2 checks + 0.4 in the grading process; 1.9 - 0.34 = 1.56, 1.04 of 1.5.
    assert "1.300 + hidden checks 0.200 + nbgrader and the kit in the grading process 0.400" in split
    assert "1.560 s, 1.04 of plain serial's 1.500" in warm


@pytest.mark.slow  # a few kernels, without the sandbox (the prototype runs no student code)
def test_a_warm_server_shares_its_imports_between_the_kernels_it_forks():
    # Each forked kernel answers and imports numpy and matplotlib (forked_kernels raises otherwise);
    # the server's own start, shared by four kernels instead of borne by one, costs each less.
    one = forked_kernels(students=1, per_student=1)
    four = forked_kernels(students=1, per_student=4)
    assert four.total < one.total * 0.75, (one, four)
