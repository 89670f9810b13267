"""The Python twin of the `faulty` test plugin: misbehaves as its settings say,
so the tests can prove the gateway survives a Python guest doing so.

Settings (`[plugins.settings.faulty-py]`):
    consumer   ok (default) | error | trap | loop | oom
    view       ok (default) | trap | loop
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import wasi_config_store
from wit_world.imports.notion_oauth_types import ConsumerError, HttpResponse


def mode(key: str) -> str:
    try:
        return wasi_config_store.get(key) or "ok"
    except Err:
        return "ok"


def misbehave(key: str) -> None:
    m = mode(key)
    if m == "error":
        raise Err(ConsumerError(message="the app's database is away", retryable=True))
    if m == "trap":
        raise RuntimeError("faulty-py raising on purpose")
    if m == "loop":
        n = 0
        while True:
            n += 1
    if m == "oom":
        hog = bytearray(1 << 30)
        hog[-1] = 1


def page(status: int, text: str) -> HttpResponse:
    return HttpResponse(status=status, headers=[("content-type", "text/html; charset=utf-8")],
                        body=f"<p>{text}</p>".encode())


class Consumer(exports.Consumer):
    def consume_token_info(self, token, state) -> None:
        misbehave("consumer")

    def consume_redirect_error(self, error, state) -> None:
        misbehave("consumer")


class View(exports.View):
    def make_auth_response(self, authorization, state) -> HttpResponse:
        misbehave("view")
        return page(200, "faulty-py: connected")

    def make_access_denied_response(self, error, state) -> HttpResponse:
        misbehave("view")
        return page(403, "faulty-py: denied")

    def make_error_response(self, error, state) -> HttpResponse:
        misbehave("view")
        return page(error.status, "faulty-py: error")
