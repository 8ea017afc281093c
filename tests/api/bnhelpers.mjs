// Helpers for the API-key and Binance-compatible API tests: create keys over the native API and
// send Binance-signed requests (HMAC-SHA256 hex of query string + form body, as Binance defines).
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { api } from './helpers.mjs';

export async function createKey(srv, user, body = { permissions: ['read', 'trade'] }) {
  const r = await api(srv, 'POST', '/api/v1/api-keys', { token: user.token, body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

export function sign(secret, payload) {
  return crypto.createHmac('sha256', secret).update(payload).digest('hex');
}

// A signed Binance request. params go in the query for GET/DELETE and in a form body for POST
// (as ccxt does). opts: { timestamp, recvWindow, badSig, apiKey, noTimestamp, inQuery }.
export async function signed(srv, key, method, path, params = {}, opts = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) p.append(k, String(v));
  if (!opts.noTimestamp) p.append('timestamp', String(opts.timestamp ?? Date.now()));
  if (opts.recvWindow !== undefined) p.append('recvWindow', String(opts.recvWindow));
  const payload = p.toString();
  let sig = sign(key.secret, payload);
  if (opts.badSig) sig = sign(key.secret + 'x', payload);
  const headers = { 'x-mbx-apikey': opts.apiKey ?? key.api_key };
  let url = srv.base + path;
  let body;
  if (method === 'POST' && !opts.inQuery) {
    body = `${payload}&signature=${sig}`;
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else {
    url += `?${payload}&signature=${sig}`;
  }
  const r = await fetch(url, { method, headers, body });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { unparsed: text }; }
  return { status: r.status, body: json, headers: r.headers };
}

export async function pub(srv, path) {
  const r = await fetch(srv.base + path);
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { unparsed: text }; }
  return { status: r.status, body: json, headers: r.headers };
}
