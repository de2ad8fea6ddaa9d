"""JupyterHub for the GAN tutorial course: students, several graders, one shared exchange.

Copy to /etc/jupyterhub/jupyterhub_config.py (see the README's "JupyterHub" section). Accounts are
the machine's Unix accounts (PAM). Every student gets their own JupyterLab; the graders share one
JupyterLab, run as the service account ``grader-gan_tutorial`` in the course directory, where
Formgrader grades into a PostgreSQL gradebook that all graders use at once.
"""

import os

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

COURSE = "gan_tutorial"  # must equal CourseDirectory.course_id in the course's nbgrader_config.py
# Unix accounts that grade and that study (space-separated lists in the environment, or edit here).
GRADERS = os.environ.get("GANKIT_GRADERS", "instructor1 ta1").split()
STUDENTS = os.environ.get("GANKIT_STUDENTS", "student1 student2").split()
SERVICE_ACCOUNT = f"grader-{COURSE}"  # owns the course directory; the graders' server runs as it
COURSE_DIR = os.environ.get("GANKIT_COURSE_DIR", f"/home/{SERVICE_ACCOUNT}/course")

c.JupyterHub.bind_url = os.environ.get("GANKIT_HUB_URL", "http://:8000")
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(GRADERS + STUDENTS)
c.Authenticator.admin_users = {GRADERS[0]}
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"

# The graders' group: the name must start with "formgrade-" for nbgrader's course list to find it.
c.JupyterHub.load_groups = {f"formgrade-{COURSE}": {"users": GRADERS}}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{COURSE}",
        "groups": [f"formgrade-{COURSE}"],
        "scopes": [f"access:services!service={COURSE}", "list:services", f"read:services!service={COURSE}"],
    },
    # A user's server holds a token of its own: what JupyterHub gives every server (activity,
    # access to itself) plus what nbgrader's course list asks with it (the user's own name and
    # groups; the course's service, which it fetches to see whether the user may grade). A token
    # never holds more than its owner may do, so a student's server still cannot reach the service.
    # Never "inherit": the admin grader's server (and anything run in it) would hold an admin token.
    {
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!server",
            "read:users:name!user",
            "read:users:groups!user",
            "list:services",
            f"read:services!service={COURSE}",
            f"access:services!service={COURSE}",
        ],
    },
]

# The graders' shared JupyterLab, started by the hub as a service. Its name must be the course id.
# It runs in the course directory (a checkout of this kit), whose nbgrader_config.py reads the
# gradebook URL and the exchange from the environment.
c.JupyterHub.services = [
    {
        "name": COURSE,
        "url": os.environ.get("GANKIT_GRADERS_URL", "http://127.0.0.1:9999"),
        "command": ["jupyterhub-singleuser", f"--ServerApp.root_dir={COURSE_DIR}"],
        "user": SERVICE_ACCOUNT,
        "cwd": COURSE_DIR,
        "oauth_no_confirm": True,  # the hub's own service: no "Authorize access" page for graders
        "environment": {
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "NBGRADER_EXCHANGE": os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange"),
            "GANKIT_DB_URL": os.environ.get("GANKIT_DB_URL", f"postgresql://{SERVICE_ACCOUNT}@127.0.0.1:5432/{COURSE}"),
        },
    }
]
