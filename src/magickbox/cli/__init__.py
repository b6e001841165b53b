"""Command-line entry points: `magickbox` (server side) and `mb` (client)."""
