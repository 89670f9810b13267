// {{name}}: a notion-oauth-gateway plugin in JavaScript. Build it with `make`
// in this folder; the component lands in ../{{name}}.wasm. See docs/plugins.md.

import { get } from 'wasi:config/store@0.2.0-rc.1';
import { log } from 'wasi:logging/logging@0.1.0-draft';

// A setting from `[plugins.settings.{{name}}]`.
function setting(key, fallback) {
  try {
    return get(key) || fallback;
  } catch {
    return fallback;
  }
}

// <consumer>
export const consumer = {
  consumeTokenInfo(token, state) {
    // Store the token (token.accessToken, token.refreshToken) where your app
    // can use it. Throw { message, retryable: true } when the failure is
    // temporary. Never log the token itself.
    const auth = token.authorization;
    log('info', '{{name}}', `workspace ${auth.workspaceId} connected (bot ${auth.botId}, request ${state.requestId})`);
  },
  consumeRedirectError(error, state) {
    log('info', '{{name}}', `not connected: ${error.error}`);
  },
};
// </consumer>

// <view>
function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(status, title, text) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>`;
  return { status, headers: [['content-type', 'text/html; charset=utf-8']], body: new TextEncoder().encode(html) };
}

export const view = {
  makeAuthResponse(authorization, state) {
    const workspace = authorization.workspaceName ?? 'your workspace';
    return page(200, 'Notion connected', `${setting('app_name', 'the app')} is now connected to ${workspace}.`);
  },
  makeAccessDeniedResponse(error, state) {
    return page(403, 'Notion not connected', `Notion said: ${error.error}`);
  },
  makeErrorResponse(error, state) {
    return page(error.status, 'Something went wrong', error.message);
  },
};
// </view>
