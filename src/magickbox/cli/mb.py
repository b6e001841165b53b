"""`mb`: the client for many sessions on many boxes (commands arrive with the mb issue)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    print("mb: the client commands are not built yet (see issue 5)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
