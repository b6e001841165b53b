"""`magickbox serve` without its stages (receiver, scheduler): only the HTTP API over the store.

The API tests make sessions through the store and need them to stay where they put them (a
queued session must stay queued); the real stages are exercised by the e2e tests.
Run as: python -m tests.api.api_only serve --data ... (the same options as `magickbox serve`).
"""

from __future__ import annotations

import sys

from magickbox import server
from magickbox.cli.magickbox import main

if __name__ == "__main__":
    server.STAGE_FACTORIES.clear()
    sys.exit(main())
