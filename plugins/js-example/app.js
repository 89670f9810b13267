// An example plugin in JavaScript: both the consumer and the view.
//
// The consumer keeps the last few connections (never a token) in the
// plugin's key-value namespace; the view renders the pages in the app's
// colours. Build it with `make -C plugins/js-example`.
//
// Grants it needs (in the gateway config):
//
//     [plugins.grants.js-example]
//     keyvalue = true
//
// Settings (`[plugins.settings.js-example]`), optional:
//     app_name      how the pages name your app (default "the app")
//     accent        a CSS colour for headings (default "#2e6fdb")

import { get as setting } from 'wasi:config/store@0.2.0-rc.1';
import { log } from 'wasi:logging/logging@0.1.0-draft';
import { open } from 'wasi:keyvalue/store@0.2.0-draft';

const RECENT = 'recent';
const KEEP = 10;

function read(key, fallback) {
  try {
    return setting(key) || fallback;
  } catch {
    return fallback;
  }
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function colour() {
  const accent = read('accent', '#2e6fdb');
  return /^#[0-9a-fA-F]{3,8}$/.test(accent) ? accent : '#2e6fdb';
}

function page(status, title, body) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{color:${colour()}}.muted{color:#666;font-size:.9em}</style></head><body>${body}</body></html>`;
  return {
    status,
    headers: [['content-type', 'text/html; charset=utf-8']],
    body: new TextEncoder().encode(html),
  };
}

export const consumer = {
  consumeTokenInfo(token, state) {
    const auth = token.authorization;
    const entry = {
      botId: auth.botId,
      workspaceId: auth.workspaceId,
      workspaceName: auth.workspaceName ?? null,
      appData: state.appData ?? null,
    };
    try {
      const bucket = open('connections');
      const stored = bucket.get(RECENT);
      const recent = stored ? JSON.parse(new TextDecoder().decode(stored)) : [];
      const next = [entry, ...recent.filter((e) => e.botId !== auth.botId)].slice(0, KEEP);
      bucket.set(RECENT, new TextEncoder().encode(JSON.stringify(next)));
    } catch (e) {
      // Retryable: the token is fine, only the bookkeeping failed.
      throw { message: `cannot record the connection: ${e.payload?.tag ?? e}`, retryable: true };
    }
    log('info', 'js-example', `workspace ${auth.workspaceId} connected (bot ${auth.botId})`);
  },

  consumeRedirectError(error, state) {
    log('info', 'js-example', `connection not made: ${error.error}`);
  },
};

export const view = {
  makeAuthResponse(authorization, state) {
    const app = escape(read('app_name', 'the app'));
    const workspace = escape(authorization.workspaceName ?? 'your workspace');
    return page(200, 'Notion connected',
      `<h1>Connected to ${workspace}</h1><p>${app} can now use the pages you shared. You can close this window.</p>`);
  },

  makeAccessDeniedResponse(error, state) {
    const app = escape(read('app_name', 'the app'));
    const text = error.error === 'access_denied'
      ? `You cancelled, so ${app} has no access to your workspace.`
      : `Notion reported an error: <code>${escape(error.error)}</code>.`;
    return page(403, 'Notion not connected', `<h1>Notion was not connected</h1><p>${text}</p>`);
  },

  makeErrorResponse(error, state) {
    const reference = state ? `<p class="muted">Reference: ${escape(state.requestId)}</p>` : '';
    return page(error.status, 'Something went wrong',
      `<h1>Something went wrong</h1><p>${escape(error.message)}</p>${reference}`);
  },
};
