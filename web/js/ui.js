// Small DOM helpers shared by the pages (no framework).

/** h('div', {class:'x', onclick:fn, 'aria-label':'..'}, child, 'text', [more]) -> Element */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace the children of el. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "2024-08-08 23:54:15 UTC" from epoch ms or an RFC 3339 string. */
export function fmtTime(t, withSeconds = true) {
  if (t == null) return '—';
  const d = new Date(t);
  const s = d.toISOString().replace('T', ' ');
  return (withSeconds ? s.slice(0, 19) : s.slice(0, 16)) + ' UTC';
}

export function fmtDate(t) {
  if (t == null) return '—';
  return new Date(t).toISOString().slice(0, 10);
}

/** Local clock time HH:MM:SS for live lists. */
export function fmtClock(t) {
  return new Date(t).toISOString().slice(11, 19);
}

/** A message line (role=status or alert) whose text can be set: msg.show(text, 'error'|'ok'). */
export function messageLine(id) {
  const el = h('p', { class: 'msg', id, role: 'status', 'aria-live': 'polite' });
  el.show = (text, kind = 'ok') => {
    el.className = 'msg ' + kind;
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    el.textContent = text || '';
  };
  return el;
}

/** Text of an ApiError for the user: "message (code)". */
export function errorText(e) {
  if (e && e.code) return `${e.message} (${e.code})`;
  return String(e && e.message ? e.message : e);
}

/** A labelled form field: label + input (+ optional hint). Returns {wrap, input}. */
export function field(label, attrs = {}, hint) {
  const id = attrs.id || 'f-' + Math.random().toString(36).slice(2, 8);
  const input = h(attrs.tag || 'input', { ...attrs, id, tag: null, 'aria-describedby': hint ? id + '-hint' : null });
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('small', { id: id + '-hint', class: 'hint' }, hint) : null);
  return { wrap, input };
}

/** A select with options [[value, text], ...]. */
export function select(label, options, attrs = {}) {
  const f = field(label, { ...attrs, tag: 'select' });
  for (const [v, t] of options) f.input.append(h('option', { value: v }, t));
  return f;
}

/** Class for a signed decimal string: 'up', 'down' or ''. */
export function signClass(s) {
  if (s == null) return '';
  if (s.startsWith('-')) return 'down';
  return /[1-9]/.test(s) ? 'up' : '';
}

/** Empty-state row for a table body. */
export function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}
