"""JupyterHub for the GAN tutorial course: students, several graders, one shared exchange.

deploy/setup.sh installs this file as <prefix>/etc/jupyterhub_config.py beside deployment.json,
which holds what setup chose (paths, groups, ports); edit the settings with setup's options, not
here. Accounts are the machine's Unix accounts (PAM); only members of the students' and the
graders' Unix groups may log in. Every user gets their own JupyterLab from the students' runtime,
which holds no course material. The graders share one JupyterLab, a hub service running as the
service account in the course directory, where Formgrader grades into the PostgreSQL gradebook.
"""

import grp
import json
import os

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "deployment.json")) as file:
    setting = json.load(file)

COURSE = setting["course_id"]  # equals CourseDirectory.course_id in the course's nbgrader_config.py
RUNTIME = setting["runtime"]
STATE = setting["state"]

# Listen where setup was told (127.0.0.1 unless --bind): put TLS in front, e.g. a reverse proxy
# (nginx, Caddy) that terminates HTTPS and forwards to this address.
c.JupyterHub.bind_url = setting["bind_url"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = setting["hub_port"]
c.ConfigurableHTTPProxy.command = [setting["proxy"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{setting['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{os.path.join(STATE, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")

# Who may log in: the Unix groups, so the roster is managed with usermod/gpasswd, not here.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_groups = {setting["students_group"], setting["graders_group"]}
c.Authenticator.admin_users = set(setting["admins"])

# Every user's own JupyterLab runs from the students' runtime (its nbgrader_config.py names the
# course and the exchange), never from the course directory.
c.Spawner.cmd = [os.path.join(RUNTIME, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {"PATH": f"{RUNTIME}/bin:/usr/local/bin:/usr/bin:/bin"}

# The graders: the hub group's name must start with "formgrade-" for nbgrader's course list. Its
# members are the Unix group's, read when the hub starts (restart it after changing the group).
GRADERS = grp.getgrnam(setting["graders_group"]).gr_mem
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
    # Never "inherit": an admin's server (and anything run in it) would hold an admin token.
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
    # The idle culler stops servers, nothing else.
    {
        "name": "idle-culler",
        "services": ["idle-culler"],
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    },
]

c.JupyterHub.services = [
    # The graders' shared JupyterLab. Its name must be the course id. It runs in the course
    # directory from the kit's own environment there, as the service account, which alone (with
    # the graders' group) may read the course, and alone may log in to the gradebook.
    {
        "name": COURSE,
        "url": f"http://127.0.0.1:{setting['service_port']}",
        "command": [
            os.path.join(setting["course_env"], "bin", "jupyterhub-singleuser"),
            f"--ServerApp.root_dir={setting['course_dir']}",
            # what the graders' pages may load (nothing from another origin): gankit/graders_server_config.py
            f"--config={os.path.join(setting['course_dir'], 'gankit', 'graders_server_config.py')}",
        ],
        "user": setting["service_account"],
        "cwd": setting["course_dir"],
        "oauth_no_confirm": True,  # the hub's own service: no "Authorize access" page for graders
        "environment": {
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "PATH": f"{setting['course_env']}/bin:/usr/local/bin:/usr/bin:/bin",
            "NBGRADER_EXCHANGE": setting["exchange"],
            "GANKIT_DB_URL": setting["db_url"],
        },
    },
    # Stops a user's server after cull_after seconds without activity (about 170 MB each).
    {
        "name": "idle-culler",
        "command": [os.path.join(RUNTIME, "bin", "python"), "-m", "jupyterhub_idle_culler", f"--timeout={setting['cull_after']}"],
    },
]
