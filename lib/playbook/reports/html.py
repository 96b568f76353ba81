"""The HTML pages' templates, escaped: a server's error text with ``<`` in it stays text."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader

# ``select_autoescape()`` matches ``*.html`` but not our ``*.html.j2`` names: escape every template.
TEMPLATES = Environment(loader=PackageLoader("playbook.reports", "templates"), autoescape=True)


def render(template: str, **context: Any) -> str:
    return TEMPLATES.get_template(template).render(**context)
