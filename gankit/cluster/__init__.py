"""Grading a class on Dask distributed: the same grading on one laptop (a ``LocalCluster``) or on
a cluster (a scheduler's address), with the client as the only writer.

- ``shipping``: what crosses to a worker, read on the client: the course (once per worker) and
  each student's submission, as bytes, read as data (no link followed, sizes bounded);
- ``worker``: what a worker does with them: a private scratch course, nbgrader's ``autograde`` with
  the kit's pipeline and sandbox, and the student's grade rows and autograded files returned as
  plain data;
- ``writes``: what the client does with a result: the autograded files and the gradebook rows
  (SQLite or PostgreSQL), one transaction per student, idempotently;
- ``versions``: the packages both sides must share;
- ``local``: the run's own cluster on one machine: loopback, TLS, no HTTP port, its scratch removed;
- ``gankit.grade_class``: the command that puts them together.
"""
