"""{{name}}: a notion-oauth-gateway plugin in Python. Build it with `make` in
this folder; the component lands in ../{{name}}.wasm. `make bindings` writes
the typed bindings beside this file for your editor. See docs/plugins.md."""

import html

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import logging, wasi_config_store
from wit_world.imports.notion_oauth_types import (
    Authorization,
    ConsumerError,
    ErrorInfo,
    HttpResponse,
    RedirectError,
    StateInfo,
    TokenInfo,
)


def setting(key: str, default: str) -> str:
    """A setting from `[plugins.settings.{{name}}]`."""
    try:
        return wasi_config_store.get(key) or default
    except Err:
        return default


# <consumer>
class Consumer(exports.Consumer):
    def consume_token_info(self, token: TokenInfo, state: StateInfo) -> None:
        # Store the token (token.access_token, token.refresh_token) where your
        # app can use it. Raise Err(ConsumerError(message=..., retryable=True))
        # when the failure is temporary. Never log the token itself.
        auth = token.authorization
        logging.log(logging.Level.INFO, "{{name}}",
                    f"workspace {auth.workspace_id} connected (bot {auth.bot_id}, request {state.request_id})")

    def consume_redirect_error(self, error: RedirectError, state: StateInfo) -> None:
        logging.log(logging.Level.INFO, "{{name}}", f"not connected: {error.error}")
# </consumer>


# <view>
def page(status: int, title: str, text: str) -> HttpResponse:
    body = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return HttpResponse(status=status, headers=[("content-type", "text/html; charset=utf-8")],
                        body=body.encode("utf-8"))


class View(exports.View):
    def make_auth_response(self, authorization: Authorization, state: StateInfo) -> HttpResponse:
        workspace = authorization.workspace_name or "your workspace"
        return page(200, "Notion connected", f"{setting('app_name', 'the app')} is now connected to {workspace}.")

    def make_access_denied_response(self, error: RedirectError, state: StateInfo) -> HttpResponse:
        return page(403, "Notion not connected", f"Notion said: {error.error}")

    def make_error_response(self, error: ErrorInfo, state: StateInfo | None) -> HttpResponse:
        return page(error.status, "Something went wrong", error.message)
# </view>
