"""Hidden grading, outside the student's kernel: the student's answer is run in a sandboxed process
(``student_process`` starts ``runner``; ``codec`` is the plain data that crosses) and judged here
(``grader`` runs the checks of ``gankit.checks``, written with ``checking``; ``outcome`` is what a
call returned). Nothing here imports nbgrader: ``gankit.nbgrader_adapter.hidden_checks`` plugs it in.
"""
