"""An example plugin in Python: both the consumer and the view.

The consumer records each connected workspace (never the token) in the
plugin's key-value namespace and counts connections; the view renders the
pages and shows that count. Build it with `make -C plugins/python-example`.

Grants it needs (in the gateway config):

    [plugins.grants.python-example]
    keyvalue = true

Settings (`[plugins.settings.python-example]`), optional:
    app_name    how the pages name your app (default "the app")
"""

import html
import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import atomics, logging, wasi_config_store, wasi_keyvalue_store
from wit_world.imports.notion_oauth_types import (
    Authorization,
    ConsumerError,
    ErrorInfo,
    HttpResponse,
    Owner_User,
    RedirectError,
    StateInfo,
    TokenInfo,
)

BUCKET = "connections"


def setting(key: str, default: str) -> str:
    try:
        value = wasi_config_store.get(key)
    except Err:
        return default
    return value if value else default


def log(level: logging.Level, message: str) -> None:
    logging.log(level, "python-example", message)


def page(status: int, title: str, body: str) -> HttpResponse:
    document = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}"
        ".muted{color:#666;font-size:.9em}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HttpResponse(
        status=status,
        headers=[("content-type", "text/html; charset=utf-8")],
        body=document.encode("utf-8"),
    )


def connections_so_far() -> int | None:
    """The connection count, or None when the store is not granted or fails."""
    try:
        bucket = wasi_keyvalue_store.open(BUCKET)
        raw = bucket.get("count")
    except Err as e:
        log(logging.Level.WARN, f"cannot read the connection count: {e.value}")
        return None
    return int(raw.decode()) if raw else 0


class Consumer(exports.Consumer):
    def consume_token_info(self, token: TokenInfo, state: StateInfo) -> None:
        auth = token.authorization
        owner = auth.owner.value.id if isinstance(auth.owner, Owner_User) else "workspace"
        record = {
            "bot_id": auth.bot_id,
            "workspace_id": auth.workspace_id,
            "workspace_name": auth.workspace_name,
            "owner": owner,
            "app_data": state.app_data,
        }
        try:
            bucket = wasi_keyvalue_store.open(BUCKET)
            if not bucket.exists(f"bot:{auth.bot_id}"):
                atomics.increment(bucket, "count", 1)
            bucket.set(f"bot:{auth.bot_id}", json.dumps(record).encode("utf-8"))
        except Err as e:
            # Retryable: the token is fine, only our bookkeeping failed.
            raise Err(ConsumerError(message=f"cannot record the connection: {e.value}", retryable=True))
        log(logging.Level.INFO, f"workspace {auth.workspace_id} connected (bot {auth.bot_id})")

    def consume_redirect_error(self, error: RedirectError, state: StateInfo) -> None:
        log(logging.Level.INFO, f"connection not made: {error.error}")


class View(exports.View):
    def make_auth_response(self, authorization: Authorization, state: StateInfo) -> HttpResponse:
        app = html.escape(setting("app_name", "the app"))
        workspace = html.escape(authorization.workspace_name or "your workspace")
        count = connections_so_far()
        tally = "" if count is None else f"<p class=\"muted\">Workspaces connected so far: {count}</p>"
        return page(
            200,
            "Notion connected",
            f"<h1>Connected to {workspace}</h1><p>{app} can now use the pages you shared. "
            f"You can close this window.</p>{tally}",
        )

    def make_access_denied_response(self, error: RedirectError, state: StateInfo) -> HttpResponse:
        app = html.escape(setting("app_name", "the app"))
        if error.error == "access_denied":
            text = f"You cancelled, so {app} has no access to your workspace."
        else:
            text = f"Notion reported an error: <code>{html.escape(error.error)}</code>."
        return page(403, "Notion not connected", f"<h1>Notion was not connected</h1><p>{text}</p>")

    def make_error_response(self, error: ErrorInfo, state: StateInfo | None) -> HttpResponse:
        reference = f"<p class=\"muted\">Reference: {html.escape(state.request_id)}</p>" if state else ""
        return page(
            error.status,
            "Something went wrong",
            f"<h1>Something went wrong</h1><p>{html.escape(error.message)}</p>{reference}",
        )
