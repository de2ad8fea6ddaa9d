"""The kit's changes to ``nbgrader autograde``: a sandboxed, fault-isolating execution of each
notebook (``execute``), per-notebook isolation of broken submissions and recovery of interrupted
runs (``autograde``), and the record of what went wrong (``faults``)."""
