"""The HTTP edge: /healthz, the original's /code/php endpoints, /api/v1, /metrics."""
