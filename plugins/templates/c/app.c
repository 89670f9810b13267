/*
 * {{name}}: a notion-oauth-gateway plugin in C. Build it with `make` in this
 * folder; the component lands in ../{{name}}.wasm. The types and functions
 * used below come from bindings/{{c_world}}.h, which the build writes from
 * wit/ (`make bindings` writes it alone, for your editor). See docs/plugins.md.
 *
 * Memory: the gateway hands each export its arguments to own (free them with
 * the matching *_free function), and frees what an export returns once it
 * has read it, so everything returned must come from malloc. A failed malloc
 * aborts, which traps: the gateway then answers with its own page.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "{{c_world}}.h"

typedef {{c_world}}_string_t string_t;

/* A string_t for printf's "%.*s". */
#define SHOW(s) (int)(s).len, (const char *)(s).ptr

/* A string_t's text, or `fallback` when the option is none. */
#define OR(option, fallback) \
  ((option).is_some ? (int)(option).val.len : (int)strlen(fallback)), \
  ((option).is_some ? (const char *)(option).val.ptr : (fallback))

static void *allocate(size_t size) {
  void *p = malloc(size ? size : 1);
  if (p == NULL)
    abort();
  return p;
}

/* printf into a new string; the caller frees it. */
static char *format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int n = vsnprintf(NULL, 0, fmt, args);
  va_end(args);
  /* A format error (n < 0) gives the empty string. */
  size_t size = n < 0 ? 1 : (size_t)n + 1;
  char *s = allocate(size);
  s[0] = '\0';
  if (n >= 0) {
    va_start(args, fmt);
    vsnprintf(s, size, fmt, args);
    va_end(args);
  }
  return s;
}

/* A line in the gateway's log, tagged with this plugin and the request. */
static void log_info(const char *message) {
  string_t context, text;
  {{c_world}}_string_set(&context, "{{name}}");
  {{c_world}}_string_set(&text, message);
  wasi_logging_logging_log(WASI_LOGGING_LOGGING_LEVEL_INFO, &context, &text);
}

/* A setting from `[plugins.settings.{{name}}]`, or `fallback` when it is not
 * set; the caller frees it. */
__attribute__((unused)) static char *setting(const char *key, const char *fallback) {
  string_t name;
  {{c_world}}_string_set(&name, key);
  {{c_world}}_option_string_t value;
  wasi_config_store_error_t error;
  if (!wasi_config_store_get(&name, &value, &error)) {
    wasi_config_store_error_free(&error);
    return format("%s", fallback);
  }
  char *text = value.is_some ? format("%.*s", SHOW(value.val)) : format("%s", fallback);
  {{c_world}}_option_string_free(&value);
  return text;
}

// <consumer>
bool exports_notion_oauth_consumer_consume_token_info(
    exports_notion_oauth_consumer_token_info_t *token,
    exports_notion_oauth_consumer_state_info_t *state,
    exports_notion_oauth_consumer_consumer_error_t *err) {
  /* Store the token (token->access_token, token->refresh_token) where your
   * app can use it. To fail, fill *err ({{c_world}}_string_dup(&err->message,
   * "..."); err->retryable = true when the failure is temporary) and return
   * false. Never log the token itself. */
  (void)err;
  notion_oauth_types_authorization_t *auth = &token->authorization;
  char *line = format("workspace %.*s connected (bot %.*s, request %.*s)", SHOW(auth->workspace_id),
                      SHOW(auth->bot_id), SHOW(state->request_id));
  log_info(line);
  free(line);
  exports_notion_oauth_consumer_token_info_free(token);
  exports_notion_oauth_consumer_state_info_free(state);
  return true;
}

bool exports_notion_oauth_consumer_consume_redirect_error(
    exports_notion_oauth_consumer_redirect_error_t *error,
    exports_notion_oauth_consumer_state_info_t *state,
    exports_notion_oauth_consumer_consumer_error_t *err) {
  (void)err;
  char *line = format("not connected: %.*s", SHOW(error->error));
  log_info(line);
  free(line);
  exports_notion_oauth_consumer_redirect_error_free(error);
  exports_notion_oauth_consumer_state_info_free(state);
  return true;
}
// </consumer>

// <view>
/* The bytes of a page being written. */
typedef struct {
  uint8_t *ptr;
  size_t len, cap;
} buffer_t;

static void add_bytes(buffer_t *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *grown = realloc(b->ptr, cap);
    if (grown == NULL)
      abort();
    b->ptr = grown;
    b->cap = cap;
  }
  memcpy(b->ptr + b->len, s, n);
  b->len += n;
}

static void add(buffer_t *b, const char *s) { add_bytes(b, s, strlen(s)); }

/* Text from Notion or the app is attacker-controlled: escape it for HTML. */
static void add_escaped(buffer_t *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': add(b, "&amp;"); break;
    case '<': add(b, "&lt;"); break;
    case '>': add(b, "&gt;"); break;
    case '"': add(b, "&quot;"); break;
    case '\'': add(b, "&#39;"); break;
    default: add_bytes(b, s, 1);
    }
  }
}

/* Fills *ret with an HTML page; frees `text`. */
static void page(exports_notion_oauth_view_http_response_t *ret, uint16_t status, const char *title,
                 char *text) {
  buffer_t body = {0};
  add(&body, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
  add_escaped(&body, title);
  add(&body, "</title></head><body><h1>");
  add_escaped(&body, title);
  add(&body, "</h1><p>");
  add_escaped(&body, text);
  add(&body, "</p></body></html>");
  free(text);
  ret->status = status;
  ret->headers.len = 1;
  ret->headers.ptr = allocate(sizeof *ret->headers.ptr);
  {{c_world}}_string_dup(&ret->headers.ptr[0].f0, "content-type");
  {{c_world}}_string_dup(&ret->headers.ptr[0].f1, "text/html; charset=utf-8");
  ret->body.ptr = body.ptr;
  ret->body.len = body.len;
}

void exports_notion_oauth_view_make_auth_response(
    exports_notion_oauth_view_authorization_t *authorization,
    exports_notion_oauth_view_state_info_t *state, exports_notion_oauth_view_http_response_t *ret) {
  char *app = setting("app_name", "the app");
  page(ret, 200, "Notion connected",
       format("%s is now connected to %.*s.", app, OR(authorization->workspace_name, "your workspace")));
  free(app);
  exports_notion_oauth_view_authorization_free(authorization);
  exports_notion_oauth_view_state_info_free(state);
}

void exports_notion_oauth_view_make_access_denied_response(
    exports_notion_oauth_view_redirect_error_t *error, exports_notion_oauth_view_state_info_t *state,
    exports_notion_oauth_view_http_response_t *ret) {
  page(ret, 403, "Notion not connected", format("Notion said: %.*s", SHOW(error->error)));
  exports_notion_oauth_view_redirect_error_free(error);
  exports_notion_oauth_view_state_info_free(state);
}

void exports_notion_oauth_view_make_error_response(
    exports_notion_oauth_view_error_info_t *error,
    exports_notion_oauth_view_state_info_t *maybe_state, /* NULL when the state was not trusted */
    exports_notion_oauth_view_http_response_t *ret) {
  page(ret, error->status, "Something went wrong", format("%.*s", SHOW(error->message)));
  exports_notion_oauth_view_error_info_free(error);
  if (maybe_state != NULL)
    exports_notion_oauth_view_state_info_free(maybe_state);
}
// </view>
