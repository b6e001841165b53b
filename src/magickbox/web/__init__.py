"""What the HTTP API (`api/`) and the web page (`ui/`) share, below both of them: request
dependencies (store, settings, token checks), the edge rules every request passes (the client
address behind trusted proxies, Host, cross-site, response headers, bodies authenticated and
bounded before they are read), connection deadlines for uvicorn, and the JSON error shape.

`magickbox.app` builds the application from these, the API's routers and the page's.
"""
