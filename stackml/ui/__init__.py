"""The web UI: Jinja2 templates, static assets and the view models pages are built from.

Pages are rendered on the server (Jinja2, autoescaped) and made interactive with HTMX; the
few canvas widgets (charts, parallel coordinates) are small hand-written modules beside the
vendored htmx and uPlot in ``static/``. Nothing here imports the server: routes in
``stackml.server.routers.ui_*`` build a view model from the store and render a template.
"""

from __future__ import annotations

from stackml.ui.rendering import STATIC_DIR, Area, nav_areas, render, static_file

__all__ = ["STATIC_DIR", "Area", "nav_areas", "render", "static_file"]
