// The native REST API (/api/v1) with the session: access + refresh tokens kept in localStorage,
// the access token refreshed silently (a minute before it expires, and once on a 401
// token_expired), one refresh at a time (a refresh token is single-use: reusing one revokes the
// whole session), logout revokes the refresh token on the server.

const BASE = '/api/v1';
const KEY = 'coinage.session';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

let session = load();
let refreshing = null;
let refreshTimer = null;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(s) {
  session = s;
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  schedule();
  for (const fn of listeners) fn(session);
}

function schedule() {
  clearTimeout(refreshTimer);
  refreshTimer = null;
  if (!session) return;
  const wait = Math.max(5000, session.expires_at - Date.now() - 60000);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
}

/** The signed-in user ({email, user_id, access_token, ...}) or null. */
export function currentSession() {
  return session;
}

/** Call fn(session) whenever the session changes (log in, refresh, log out). */
export function onSession(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function fromTokens(t, email) {
  return {
    email,
    user_id: t.user_id,
    access_token: t.access_token,
    refresh_token: t.refresh_token,
    expires_at: Date.now() + t.expires_in * 1000,
  };
}

async function raw(method, path, { body, token, headers } = {}) {
  const h = { ...(headers || {}) };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(BASE + path, { method, headers: h, body: payload });
  } catch (e) {
    throw new ApiError(0, 'network_error', 'the server cannot be reached');
  }
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!r.ok) {
    const err = json && json.error;
    throw new ApiError(r.status, err ? err.code : 'http_' + r.status, err ? err.message : r.statusText);
  }
  return json;
}

/** Exchange the refresh token for a new pair (rotation). Shared by concurrent callers. */
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, 'unauthorized', 'not signed in'));
  if (!refreshing) {
    // another tab may have rotated the tokens already: reusing the old refresh token would revoke
    // the session, so adopt the stored pair if it is newer
    const stored = load();
    if (stored && session && stored.refresh_token !== session.refresh_token && stored.expires_at > Date.now() + 10000) {
      save(stored);
      return Promise.resolve(session);
    }
    const s = session;
    refreshing = raw('POST', '/auth/refresh', { body: { refresh_token: s.refresh_token } })
      .then((t) => {
        save(fromTokens(t, s.email));
        return session;
      })
      .catch((e) => {
        if (e.status === 401 || e.status === 400) save(null); // revoked or expired: signed out
        throw e;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/**
 * Call the API. opts: {body, auth (default true when signed in), idempotencyKey}.
 * Resolves to the parsed JSON body; rejects with ApiError {status, code, message}.
 */
export async function api(method, path, opts = {}) {
  const headers = {};
  if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
  const auth = opts.auth ?? !!session;
  if (auth && refreshing) await refreshing.catch(() => {});
  if (auth && session && session.expires_at - Date.now() < 10000) await refresh().catch(() => {});
  const call = () => raw(method, path, { body: opts.body, headers, token: auth && session ? session.access_token : null });
  try {
    return await call();
  } catch (e) {
    if (auth && session && e.status === 401 && (e.code === 'token_expired' || e.code === 'unauthorized')) {
      await refresh();
      return call();
    }
    throw e;
  }
}

export async function register(email, password) {
  await raw('POST', '/auth/register', { body: { email, password } });
  return login(email, password);
}

export async function login(email, password) {
  const t = await raw('POST', '/auth/login', { body: { email, password } });
  save(fromTokens(t, email));
  return session;
}

/** Revoke the refresh token on the server, then forget the session (even if the call fails). */
export async function logout() {
  const s = session;
  if (!s) return;
  try {
    await raw('POST', '/auth/logout', { token: s.access_token, body: { refresh_token: s.refresh_token } });
  } catch {
    /* an expired access token: the refresh token dies with its session anyway */
  } finally {
    save(null);
  }
}

/** A fresh Idempotency-Key for a POST that moves money or creates an order. */
export function newIdempotencyKey(prefix) {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${Date.now().toString(36)}-${rnd[0].toString(36)}${rnd[1].toString(36)}`;
}

// other tabs log in, refresh and log out through the same localStorage entry
window.addEventListener('storage', (e) => {
  if (e.key !== KEY) return;
  session = load();
  schedule();
  for (const fn of listeners) fn(session);
});

schedule();
