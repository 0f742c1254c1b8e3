"""The web dashboard served by ``segmint serve`` at ``/``: server-rendered pages (Jinja, the
report's components and charts) over the service's workspace and live state, a little vanilla
JavaScript for live updates, sign-in with an API key."""

from segmint.dashboard.pages import install_dashboard

__all__ = ["install_dashboard"]
