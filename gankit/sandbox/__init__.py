"""Where students' code runs during grading: an unprivileged, offline, resource-limited sandbox.

``command`` builds the bubblewrap command line (what a sandbox may see and use), ``limits`` and
``cgroups`` bound what it may take, ``launcher`` is the supervisor that runs it, ``availability``
says whether this machine can build one, ``settings`` reads ``c.Sandbox.*`` from
``nbgrader_config.py`` and ``kernel`` runs a notebook's kernel inside it.
"""
