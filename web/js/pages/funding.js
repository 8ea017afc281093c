// Funding: deposit and withdraw paper money (Idempotency-Key per submission, so a double click
// or a retry cannot move money twice), balances, and the ledger (journal entries) with paging.
import { api, newIdempotencyKey } from '../api.js';
import { loadAssets } from '../data.js';
import { decimalsOf, fmt, isDecimalInput, isZero, normalizeInput, trim } from '../decimal.js';
import { live } from '../ws.js';
import { emptyRow, errorText, field, fmtTime, h, messageLine, put, select, signClass } from '../ui.js';

export function balancesTable(id, list) {
  return h('table', { class: 'grid', id },
    h('caption', { class: 'sr-only' }, 'Balances'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Asset'), h('th', { scope: 'col', class: 'num' }, 'Available'), h('th', { scope: 'col', class: 'num' }, 'Held (open orders)'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
    h('tbody', {}, list.length ? list.map((b) => h('tr', { dataset: { asset: b.asset } },
      h('th', { scope: 'row' }, b.asset),
      h('td', { class: 'num', 'data-col': 'available' }, fmt(b.available, 2)),
      h('td', { class: 'num' }, fmt(b.held, 2)),
      h('td', { class: 'num', 'data-col': 'total' }, fmt(b.total, 2)))) : emptyRow(4, 'No balances yet: deposit paper money to start.')));
}

export function fundingPage(main) {
  const cleanups = [];
  const balBox = h('div', { id: 'balances-box' });
  const ledgerBody = h('tbody', { id: 'ledger' });
  const more = h('button', { type: 'button', class: 'btn ghost', id: 'ledger-more', hidden: true }, 'Load older entries');
  let cursor = null;

  function moneyForm(kind) {
    const dep = kind === 'deposit';
    const asset = select('Asset', [], { id: `${kind}-asset` });
    const amount = field('Amount', { id: `${kind}-amount`, inputmode: 'decimal', autocomplete: 'off', placeholder: dep ? '10000' : '' });
    const msg = messageLine(`${kind}-msg`);
    const btn = h('button', { type: 'submit', class: 'btn ' + (dep ? 'primary' : 'ghost'), id: `${kind}-submit` }, dep ? 'Deposit' : 'Withdraw');
    let key = null; // one key per distinct request: a retry of the same submission reuses it
    let keyFor = null;
    const form = h('form', {
      class: 'card money', 'aria-labelledby': `${kind}-title`, novalidate: true,
      onsubmit: async (ev) => {
        ev.preventDefault();
        const raw = amount.input.value.trim();
        if (!isDecimalInput(raw) || isZero(normalizeInput(raw))) {
          amount.input.setAttribute('aria-invalid', 'true');
          msg.show('Enter a positive amount, like 250 or 0.5', 'error');
          return;
        }
        const value = normalizeInput(raw);
        if (decimalsOf(trim(value)) > 8) {
          amount.input.setAttribute('aria-invalid', 'true');
          msg.show('At most 8 decimals', 'error');
          return;
        }
        amount.input.setAttribute('aria-invalid', 'false');
        const body = { asset: asset.input.value, amount: value };
        const sig = JSON.stringify(body);
        if (sig !== keyFor) { key = newIdempotencyKey(kind === 'deposit' ? 'dep' : 'wd'); keyFor = sig; }
        btn.disabled = true;
        try {
          const r = await api('POST', dep ? '/deposits' : '/withdrawals', { body, idempotencyKey: key });
          keyFor = null;
          msg.show(`${dep ? 'Deposited' : 'Withdrew'} ${fmt(r.amount, 2)} ${r.asset}. Balance: ${fmt(r.balance ? r.balance.available : null, 2)} available.`);
          amount.input.value = '';
          refresh();
        } catch (e) {
          msg.show(`Refused by the server: ${errorText(e)}`, 'error');
        } finally {
          btn.disabled = false;
        }
      },
    }, h('h2', { id: `${kind}-title` }, dep ? 'Deposit paper money' : 'Withdraw'), asset.wrap, amount.wrap, btn, msg);
    form.assetSelect = asset.input;
    return form;
  }

  const depForm = moneyForm('deposit');
  const wdForm = moneyForm('withdraw');

  put(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Funding')),
    h('p', { class: 'banner', role: 'note' }, 'Paper money only: deposits are minted by the house and withdrawals are burned. Every change is a double-entry journal entry, listed below.'),
    h('div', { class: 'funding-grid' },
      depForm, wdForm,
      h('section', { class: 'card', 'aria-labelledby': 'bal-title' }, h('h2', { id: 'bal-title' }, 'Balances'), balBox)),
    h('section', { class: 'card', 'aria-labelledby': 'ledger-title' },
      h('h2', { id: 'ledger-title' }, 'Ledger history'),
      h('table', { class: 'grid' },
        h('caption', { class: 'sr-only' }, 'Your journal entries, newest first'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Entry'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Reference'), h('th', { scope: 'col', class: 'num' }, 'Changes'))),
        ledgerBody),
      more)));

  function entryRow(e) {
    return h('tr', {},
      h('td', {}, fmtTime(e.created_at || e.ts)),
      h('td', {}, '#' + e.id),
      h('td', {}, e.kind),
      h('td', {}, e.kind === 'trade' ? `fill #${e.ref_id}` : e.ref_id ? '#' + e.ref_id : '—'),
      h('td', { class: 'num' }, e.postings.map((p) => h('div', { class: signClass(p.amount) }, (p.amount.startsWith('-') ? '' : '+') + fmt(p.amount, 2), ' ', h('small', { class: 'muted' }, p.asset)))));
  }

  async function loadLedger(reset) {
    const r = await api('GET', `/ledger?limit=25${!reset && cursor ? '&cursor=' + cursor : ''}`);
    if (reset) put(ledgerBody, r.data.length ? [] : emptyRow(5, 'No entries yet.'));
    for (const e of r.data) ledgerBody.append(entryRow(e));
    cursor = r.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener('click', () => loadLedger(false).catch(() => {}));

  async function refresh() {
    try {
      const b = await api('GET', '/balances');
      put(balBox, balancesTable('balances', b.data || b));
      await loadLedger(true);
    } catch (e) {
      put(balBox, h('p', { class: 'msg error', role: 'alert' }, errorText(e)));
    }
  }

  (async () => {
    try {
      const assets = await loadAssets();
      for (const f of [depForm, wdForm]) put(f.assetSelect, assets.map((a) => h('option', { value: a }, a)));
    } catch (e) { /* the forms show the server's error on submit */ }
    refresh();
  })();
  let t = null;
  cleanups.push(live.subscribe({ channel: 'balances' }, () => { clearTimeout(t); t = setTimeout(refresh, 200); }));
  cleanups.push(() => clearTimeout(t));
  return () => cleanups.forEach((f) => f());
}
