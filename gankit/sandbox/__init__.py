"""Where students' code runs during grading: an unprivileged, offline, resource-limited sandbox.

``launcher`` builds it, ``policy`` decides what it may see and use, ``settings`` reads
``c.Sandbox.*`` from ``nbgrader_config.py`` and ``kernel`` runs a notebook's kernel inside it.
"""
