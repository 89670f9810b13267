// The JavaScript twin of the `faulty` test plugin: misbehaves as its settings
// say, so the tests can prove the gateway survives a JavaScript guest doing so.
//
// Settings (`[plugins.settings.faulty-js]`):
//     consumer   ok (default) | error | trap | loop | oom
//     view       ok (default) | trap | loop

import { get } from 'wasi:config/store@0.2.0-rc.1';

function mode(key) {
  try {
    return get(key) || 'ok';
  } catch {
    return 'ok';
  }
}

function misbehave(key) {
  switch (mode(key)) {
    case 'error':
      throw { message: "the app's database is away", retryable: true };
    case 'trap':
      throw new Error('faulty-js throwing on purpose');
    case 'loop': {
      let n = 0;
      for (;;) {
        n += 1;
      }
    }
    case 'oom': {
      const hog = new Uint8Array(1 << 30);
      hog[hog.length - 1] = 1;
      return;
    }
    default:
      return;
  }
}

function page(status, text) {
  return {
    status,
    headers: [['content-type', 'text/html; charset=utf-8']],
    body: new TextEncoder().encode(`<p>${text}</p>`),
  };
}

export const consumer = {
  consumeTokenInfo(token, state) {
    misbehave('consumer');
  },
  consumeRedirectError(error, state) {
    misbehave('consumer');
  },
};

export const view = {
  makeAuthResponse(authorization, state) {
    misbehave('view');
    return page(200, 'faulty-js: connected');
  },
  makeAccessDeniedResponse(error, state) {
    misbehave('view');
    return page(403, 'faulty-js: denied');
  },
  makeErrorResponse(error, state) {
    misbehave('view');
    return page(error.status, 'faulty-js: error');
  },
};
