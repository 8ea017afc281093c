// One WebSocket to coinage's native /ws for the whole page: subscriptions are reference-counted,
// re-sent after a reconnect (with back-off), and private channels re-authenticate with the
// current access token. Book channels get a snapshot then contiguous deltas; a gap in `seq`
// (or {"op":"resync"}) re-subscribes to get a fresh snapshot.

import { currentSession, onSession } from './api.js';

function keyOf(sub) {
  return [sub.channel, sub.market || '', sub.interval || ''].join('|');
}

class Live {
  constructor() {
    this.ws = null;
    this.subs = new Map(); // key -> {sub, handlers:Set}
    this.backoff = 500;
    this.authed = false;
    this.status = 'connecting';
    this.statusListeners = new Set();
    onSession(() => this.reauth());
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws`;
  }

  setStatus(s) {
    this.status = s;
    for (const fn of this.statusListeners) fn(s);
  }

  onStatus(fn) {
    this.statusListeners.add(fn);
    fn(this.status);
    return () => this.statusListeners.delete(fn);
  }

  connect() {
    if (this.ws) return;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.authed = false;
    ws.onopen = () => {
      this.backoff = 500;
      this.setStatus('live');
      this.reauth();
      for (const { sub } of this.subs.values()) {
        if (!this.isPrivate(sub)) this.send({ op: 'subscribe', ...sub });
      }
    };
    ws.onmessage = (ev) => this.receive(JSON.parse(ev.data));
    ws.onclose = () => {
      this.ws = null;
      this.setStatus('reconnecting');
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    };
  }

  isPrivate(sub) {
    return sub.channel === 'orders' || sub.channel === 'balances';
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  reauth() {
    const s = currentSession();
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (s) this.send({ op: 'auth', token: s.access_token });
  }

  receive(m) {
    if (m.op === 'auth' && m.ok) {
      const first = !this.authed;
      this.authed = true;
      if (first) for (const { sub } of this.subs.values()) if (this.isPrivate(sub)) this.send({ op: 'subscribe', ...sub });
      return;
    }
    if (m.op === 'resync') {
      for (const { sub } of this.subs.values()) if (sub.channel === 'book') this.resubscribe(sub);
      return;
    }
    if (m.op) return; // acks, pong, errors
    const key = keyOf({ channel: m.channel, market: m.channel === 'orders' || m.channel === 'balances' ? '' : m.market, interval: m.interval });
    const entry = this.subs.get(key);
    if (!entry) return;
    if (m.channel === 'book' && m.type === 'delta') {
      if (entry.seq != null && m.seq !== entry.seq + 1) {
        entry.seq = null;
        this.resubscribe(entry.sub);
        return;
      }
      entry.seq = m.seq;
    } else if (m.channel === 'book') {
      entry.seq = m.seq;
    }
    for (const fn of entry.handlers) fn(m);
  }

  resubscribe(sub) {
    this.send({ op: 'unsubscribe', ...sub });
    this.send({ op: 'subscribe', ...sub });
  }

  /**
   * Subscribe to {channel, market?, interval?}; handler(message) for each message.
   * Returns an unsubscribe function.
   */
  subscribe(sub, handler) {
    this.connect();
    const key = keyOf(sub);
    let entry = this.subs.get(key);
    if (!entry) {
      entry = { sub, handlers: new Set(), seq: null };
      this.subs.set(key, entry);
      if (!this.isPrivate(sub) || this.authed) this.send({ op: 'subscribe', ...sub });
    }
    entry.handlers.add(handler);
    return () => {
      entry.handlers.delete(handler);
      if (entry.handlers.size === 0) {
        this.subs.delete(key);
        this.send({ op: 'unsubscribe', ...sub });
      }
    };
  }
}

export const live = new Live();
