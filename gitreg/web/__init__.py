"""The web view (``gitreg ui``) and the static report (``gitreg report``): read-only pages built from Git alone.

``pages`` builds each page's data from the public read API, ``links`` says where pages live (a server's
paths or a static site's relative files), ``render`` fills the Jinja2 templates, ``server`` answers HTTP
and ``site`` writes the static report. Every script and style ships in ``static/``; nothing comes from a CDN.
"""
