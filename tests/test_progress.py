"""The time left that long steps print, from the pace of the work done (a clock the test sets)."""

from __future__ import annotations

from gankit.progress import Pace


def test_the_estimate_ignores_the_start_up_and_the_first_wave():
    # 2 workers, 22 students, 10 s of start-up, then each worker grades a student every 5 s:
    # students finish in pairs at 15 s, 20 s, 25 s, ... (the second of a pair 0.2 s later).
    finished = [10 + 5 * (i // 2 + 1) + 0.2 * (i % 2) for i in range(22)]
    now = iter(finished)
    pace = Pace(parallel=2, clock=lambda: next(now))
    estimates = [pace.left(done, 22) for done in range(1, 23)]
    assert estimates[:2] == [None, None]  # the first wave says nothing about the pace
    # At 4 of 22 (20.2 s): 18 students left, 2 at a time, 5 s each: 45 s (timing from the start,
    # 20.2 / 4 * 18 = 91 s, twice too long).
    assert abs(estimates[3] - 45.0) < 1e-9
    real = [finished[-1] - finished[done - 1] for done in range(1, 23)]
    for done in range(4, 23, 2):  # at every pair: within a second of the real time left
        assert abs(estimates[done - 1] - real[done - 1]) < 1.0, (done, estimates[done - 1], real[done - 1])
    assert estimates[-1] == 0.0
