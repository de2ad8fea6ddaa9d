"""The hidden checks, one pytest module per exercise notebook. Never released to students.

Each ``test_*`` function is marked with ``@graded(cell, weight, check_id=...)`` (the id seeds its
probes and never changes once students are graded) and takes ``student``,
``reference`` and ``probe``. nbgrader runs them through ``gankit.judging.grader``; an instructor
can also run them with pytest on one submission to see a student's result in pytest's words:

    pytest gankit/checks --submission autograded/<student>/gan_exercises --student <student>
"""
