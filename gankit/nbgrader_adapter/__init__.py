"""Everything that plugs the kit into nbgrader, through nbgrader's own extension points.

``pipeline.apply(c)`` configures a course with all of it: the exchange's permissions (``exchange``),
collect and autograde taking a submission as data (``intake``), the sandboxed, fault-isolating run
of each notebook (``execute``, ``autograde``), restored grade cells (``repair``), signs of tampering
(``tamper_signs``), the record of what went wrong (``faults``), the hidden checks that decide every
autograded test cell (``hidden_checks``: where the score is written), the feedback pages
(``feedback``) and nbgrader's metadata check with its schema compiled once (``metadata_check``).
"""
