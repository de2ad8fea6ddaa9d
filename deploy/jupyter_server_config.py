"""JupyterLab lets Formgrader's pages open inside it: copy to /etc/jupyter/jupyter_server_config.py."""

c = get_config()  # noqa: F821

c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
