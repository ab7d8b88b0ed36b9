"""The web portal: server-rendered pages (Jinja2 + Babel, English and Simplified Chinese)
over the same domain services as the API.  An edge like ``api`` and ``registry``: it never
imports them, and never touches blob bytes."""
