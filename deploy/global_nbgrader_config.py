"""nbgrader settings every user of the hub shares: copy to /etc/jupyter/nbgrader_config.py.

Students need only the course id and the exchange: their Assignments tab fetches from and
submits to it. The exchange is created once by root: mkdir -p /srv/nbgrader/exchange && chmod 1777 it
(sticky: nobody can rename or remove a folder that is not theirs).
"""

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "gan_tutorial"
c.Exchange.root = "/srv/nbgrader/exchange"
