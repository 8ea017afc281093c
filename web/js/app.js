// The dashboard shell: hash router (#/markets, #/market/BTC-USDT, #/portfolio, #/funding,
// #/login, #/signup), the account box, the connection indicator, and page lifecycle (each page
// returns a cleanup function that drops its subscriptions and timers).

import { currentSession, logout, onSession } from './api.js';
import { live } from './ws.js';
import { h, put } from './ui.js';
import { authPage } from './pages/auth.js';
import { marketsPage } from './pages/markets.js';
import { marketPage } from './pages/market.js';
import { portfolioPage } from './pages/portfolio.js';
import { fundingPage } from './pages/funding.js';

const main = document.getElementById('main');
let cleanup = null;
let lastMarket = localStorage.getItem('coinage.market') || 'BTC-USDT';

const routes = [
  [/^\/markets$/, () => marketsPage(main), 'markets', 'Markets'],
  [/^\/market\/([A-Z0-9]+-[A-Z0-9]+)$/, (m) => marketPage(main, m[1]), 'market', null],
  [/^\/portfolio$/, () => portfolioPage(main), 'portfolio', 'Portfolio', true],
  [/^\/funding$/, () => fundingPage(main), 'funding', 'Funding', true],
  [/^\/login$/, () => authPage(main, 'login'), 'login', 'Log in'],
  [/^\/signup$/, () => authPage(main, 'signup'), 'signup', 'Sign up'],
];

function route() {
  const path = location.hash.replace(/^#/, '') || '/markets';
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  for (const [re, fn, nav, title, needsAuth] of routes) {
    const m = path.match(re);
    if (!m) continue;
    if (needsAuth && !currentSession()) {
      sessionStorage.setItem('coinage.after-login', path);
      location.hash = '#/login';
      return;
    }
    if (nav === 'market') {
      lastMarket = m[1];
      localStorage.setItem('coinage.market', lastMarket);
    }
    document.title = (title || m[1] || 'Coinage') + ' · Coinage';
    markNav(nav);
    cleanup = fn(m);
    // move focus into the new page for keyboard and screen-reader users, unless the page
    // already focused its first field
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
    return;
  }
  location.hash = '#/markets';
}

function markNav(nav) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
    if (a.dataset.nav === 'market') a.href = '#/market/' + lastMarket;
  }
}

function renderAccount() {
  const box = document.getElementById('account');
  const s = currentSession();
  if (!s) {
    put(box, h('a', { href: '#/login', class: 'btn ghost' }, 'Log in'), h('a', { href: '#/signup', class: 'btn primary' }, 'Sign up'));
    return;
  }
  put(box,
    h('span', { class: 'who', title: 'Signed in' }, s.email),
    h('button', {
      type: 'button', class: 'btn ghost', id: 'logout',
      onclick: async () => {
        await logout();
        location.hash = '#/login';
      },
    }, 'Log out'));
}

let signedIn = !!currentSession();
onSession((s) => {
  renderAccount();
  const was = signedIn;
  signedIn = !!s;
  if (was && !s) {
    // logged out here, in another tab, or the session was revoked: no page keeps stale forms
    if (/^#\/(portfolio|funding)/.test(location.hash)) location.hash = '#/login';
    else route();
  }
});
live.onStatus((st) => {
  const el = document.getElementById('conn');
  el.textContent = st === 'live' ? 'live' : st + '…';
  el.className = 'conn ' + st;
});
// radio groups made of buttons (interval, side, range): arrow keys move and select, as with
// native radio buttons
document.addEventListener('keydown', (e) => {
  const t = e.target;
  if (!(t instanceof HTMLElement) || t.getAttribute('role') !== 'radio') return;
  if (!['ArrowRight', 'ArrowLeft', 'ArrowDown', 'ArrowUp'].includes(e.key)) return;
  const group = t.closest('[role="radiogroup"]');
  if (!group) return;
  const radios = [...group.querySelectorAll('[role="radio"]')];
  const step = e.key === 'ArrowRight' || e.key === 'ArrowDown' ? 1 : -1;
  const next = radios[(radios.indexOf(t) + step + radios.length) % radios.length];
  e.preventDefault();
  const id = next.id || null;
  const key = next.dataset.interval || next.textContent;
  next.click();
  // the group may have re-rendered: focus the button that is now checked
  const now = (id && document.getElementById(id)) ||
    [...group.querySelectorAll('[role="radio"]')].find((b) => (b.dataset.interval || b.textContent) === key);
  if (now) now.focus();
});
window.addEventListener('hashchange', route);
renderAccount();
live.connect();
route();
