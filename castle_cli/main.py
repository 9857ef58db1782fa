"""`castle`: talks to a running Castle over HTTP, through its admin API.

    castle account create --fund USDT=100000 --fund BTC=5   -> {"accountId", "apiKey", "secretKey"}
    castle account fund --account N --fund ASSET=AMOUNT
    castle account show --account N
    castle keys create --account N --permissions read,trade [--ed25519-public-key PEM] [--ip 1.2.3.4]
    castle audit                                             -> the ledger audit, run now; exit 1 if imbalanced

The base URL and the admin token come from --url / --token, else the
environment (CASTLE_URL, CASTLE_ADMIN_TOKEN), else .castle/local.env, which
`make up` writes. Output is JSON on stdout; errors are Binance's
{"code", "msg"} on stderr with exit status 1.

New commands go in COMMANDS: (group, name) -> (argument setup, handler); a
name of None makes the group itself the command (`castle audit`). A handler
raises Failed when the command ran but its answer is a failure: the answer
still goes to stdout, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

ADMIN = "/sapi/v1/castle/admin"
TOKEN_HEADER = "X-Castle-Admin-Token"


def local_env(start: Path | None = None) -> dict[str, str]:
    """.castle/local.env from the current folder or a parent (the repository root)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        path = folder / ".castle" / "local.env"
        if path.exists():
            pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            return {k.strip(): v.strip() for k, v in pairs}
    return {}


class CastleClient:
    def __init__(self, url: str, token: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{ADMIN}{path}", data=data, method=method)
        request.add_header(TOKEN_HEADER, self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise CliError(_error_body(e)) from None
        except urllib.error.URLError as e:
            raise CliError({"code": -1001, "msg": f"cannot reach Castle at {self.url}: {e.reason}"}) from None


def _error_body(error: urllib.error.HTTPError) -> dict:
    try:
        return json.loads(error.read())
    except ValueError:
        return {"code": -1000, "msg": f"HTTP {error.code}"}


class CliError(Exception):
    def __init__(self, body: dict) -> None:
        super().__init__(json.dumps(body))
        self.body = body


class Failed(Exception):
    """The command ran, and its answer (on stdout) is a failure: exit status 1."""

    def __init__(self, result: dict) -> None:
        super().__init__(json.dumps(result))
        self.result = result


def parse_funds(items: list[str] | None) -> dict[str, str]:
    funds: dict[str, str] = {}
    for item in items or []:
        asset, sep, amount = item.partition("=")
        if not sep or not asset or not amount:
            raise CliError({"code": -1102, "msg": f"--fund takes ASSET=AMOUNT, not {item!r}"})
        funds[asset.strip().upper()] = amount.strip()
    return funds


def permissions(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


# ------------------------------------------------------------------ commands
def account_create(client: CastleClient, args) -> dict:
    body = {"fund": parse_funds(args.fund), "permissions": permissions(args.permissions), "requestId": _request_id()}
    created = client.call("POST", "/accounts", body)
    return {"accountId": created["accountId"], "apiKey": created["apiKey"], "secretKey": created["secretKey"]}


def account_fund(client: CastleClient, args) -> dict:
    body = {"fund": parse_funds(args.fund), "requestId": _request_id()}
    return client.call("POST", f"/accounts/{args.account}/fund", body)


def account_show(client: CastleClient, args) -> dict:
    return client.call("GET", f"/accounts/{args.account}")


def keys_create(client: CastleClient, args) -> dict:
    body: dict = {"permissions": permissions(args.permissions), "ipAllowList": args.ip or []}
    if args.ed25519_public_key:
        pem = args.ed25519_public_key
        body["ed25519PublicKey"] = Path(pem).read_text() if Path(pem).is_file() else pem
    return client.call("POST", f"/accounts/{args.account}/keys", body)


def audit(client: CastleClient, args) -> dict:
    report = client.call("POST", "/audit")
    if not report.get("balanced"):
        raise Failed(report)
    return report


def _request_id() -> str:
    return str(uuid.uuid4())  # one per command: a retried request funds once


def _account(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", type=int, required=True, help="the account id")


def _fund(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--fund", action="append", required=required, metavar="ASSET=AMOUNT", help="repeatable")


def _create_args(p):
    _fund(p, False)
    p.add_argument("--permissions", default="read,trade", help="of the first API key (read,trade,withdraw)")


def _fund_args(p):
    _account(p)
    _fund(p, True)


def _keys_args(p):
    _account(p)
    p.add_argument("--permissions", default="read,trade")
    p.add_argument("--ed25519-public-key", help="PEM text or a file holding it (default: a new HMAC key)")
    p.add_argument("--ip", action="append", help="allowed IP or CIDR; repeatable (default: any)")


Handler = Callable[[CastleClient, argparse.Namespace], dict]
COMMANDS: dict[tuple[str, str], tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {
    ("account", "create"): (_create_args, account_create, "create a funded account and its first API key"),
    ("account", "fund"): (_fund_args, account_fund, "fund an account (the faucet)"),
    ("account", "show"): (_account, account_show, "an account's commission and balances"),
    ("keys", "create"): (_keys_args, keys_create, "add an API key (HMAC, or Ed25519 with your public key)"),
    ("audit", None): (lambda p: None, audit, "run the ledger audit now: per asset, balances = funded - withdrawn"),
}


def build_parser() -> argparse.ArgumentParser:
    # --url and --token work before or after the command.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="Castle's base URL (default: CASTLE_URL)")
    common.add_argument("--token", default=argparse.SUPPRESS, help="the admin token (default: CASTLE_ADMIN_TOKEN)")
    parser = argparse.ArgumentParser(prog="castle", description="Talk to a running Castle.", parents=[common])
    groups = parser.add_subparsers(dest="group", required=True)
    subparsers: dict[str, argparse._SubParsersAction] = {}
    for (group, name), (setup, handler, help_text) in COMMANDS.items():
        if name is None:
            sub = groups.add_parser(group, help=help_text, parents=[common])
            setup(sub)
            sub.set_defaults(handler=handler)
            continue
        if group not in subparsers:
            subparsers[group] = groups.add_parser(group).add_subparsers(dest="command", required=True)
        sub = subparsers[group].add_parser(name, help=help_text, parents=[common])
        setup(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = {**local_env(), **{k: v for k, v in os.environ.items() if k.startswith("CASTLE_")}}
    url = getattr(args, "url", None) or env.get("CASTLE_URL") or env.get("CASTLE_REST_URL")
    if not url:
        print(json.dumps({"code": -1000, "msg": "no Castle URL: pass --url, or start one with `make up`"}),
              file=sys.stderr)
        return 1
    client = CastleClient(url, getattr(args, "token", None) or env.get("CASTLE_ADMIN_TOKEN", ""))
    try:
        result = args.handler(client, args)
    except CliError as e:
        print(json.dumps(e.body), file=sys.stderr)
        return 1
    except Failed as e:
        print(json.dumps(e.result, indent=2))
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
