"""The web page: server-rendered pages (Jinja2) over the store; actions call the HTTP API."""
