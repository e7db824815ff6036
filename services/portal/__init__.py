"""The web portal: server-rendered pages (Jinja2 and htmx) over the services' public APIs."""
