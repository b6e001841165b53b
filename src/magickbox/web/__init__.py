"""What the HTTP API (`api/`) and the web page (`ui/`) share, below both of them: request
dependencies (store, settings, token checks), the edge rules every request passes (Host,
cross-site, response headers), connection deadlines for uvicorn, and the JSON error shape.

`magickbox.app` builds the application from these, the API's routers and the page's.
"""
