"""`magickbox token create --scope read|write|admin [--name N] | list | revoke <id>`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from magickbox.cli.keep_cmd import audit_cli
from magickbox.cli.serve_cmd import add_settings_options, settings_of
from magickbox.store import SCOPES, Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("token", help="API tokens (once one exists, the HTTP API asks for tokens)")
    add_settings_options(parser)
    actions = parser.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="make a token and print it (shown only this once)")
    create.add_argument("--scope", choices=SCOPES, required=True, help="read < write < admin")
    create.add_argument("--name", default="", help="a note to tell tokens apart")
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    for action in (create, listing, revoke):  # `--data` also after the action
        action.add_argument("--data", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run(args: argparse.Namespace) -> int:
    with Store(settings_of(args)).connection() as store:
        if args.token_command == "create":
            info, secret = store.tokens.create(args.scope, args.name)
            audit_cli(store, "token-create", f"token {info.id} ({info.scope}) {info.name}".rstrip())
            print(secret)
            print(f"token {info.id} ({info.scope}) created; it is shown only now", flush=True)
        elif args.token_command == "list":
            print(f"{'id':>4}  {'scope':<6} {'created':<21} {'last used':<21} {'revoked':<21} name")
            for t in store.tokens.list():
                print(
                    f"{t.id:>4}  {t.scope:<6} {_when(t.created_at):<21} {_when(t.last_used_at):<21}"
                    f" {_when(t.revoked_at):<21} {t.name}"
                )
        else:
            store.tokens.revoke(args.id)
            audit_cli(store, "token-revoke", f"token {args.id}")
            print(f"token {args.id} revoked")
    return 0
