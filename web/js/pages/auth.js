// Sign up / log in.
import { login, register } from '../api.js';
import { errorText, field, h, messageLine, put } from '../ui.js';

export function authPage(main, mode) {
  const signup = mode === 'signup';
  const email = field('Email', { type: 'email', name: 'email', autocomplete: 'email', required: true, id: 'auth-email' });
  const pass = field('Password', {
    type: 'password', name: 'password', required: true, id: 'auth-password', minlength: signup ? 10 : null,
    autocomplete: signup ? 'new-password' : 'current-password',
  }, signup ? 'At least 10 characters.' : null);
  const msg = messageLine('auth-msg');
  const submit = h('button', { type: 'submit', class: 'btn primary wide', id: 'auth-submit' }, signup ? 'Create account' : 'Log in');
  const form = h('form', {
    class: 'card auth', 'aria-labelledby': 'auth-title',
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      msg.show(signup ? 'Creating your account…' : 'Logging in…');
      try {
        if (signup) await register(email.input.value.trim(), pass.input.value);
        else await login(email.input.value.trim(), pass.input.value);
        const next = sessionStorage.getItem('coinage.after-login');
        sessionStorage.removeItem('coinage.after-login');
        location.hash = '#' + (next || (signup ? '/funding' : '/markets'));
      } catch (e) {
        msg.show(errorText(e), 'error');
        submit.disabled = false;
      }
    },
  },
  h('h1', { id: 'auth-title' }, signup ? 'Create a paper-trading account' : 'Log in'),
  h('p', { class: 'muted' }, 'Coinage trades paper money against a replay of real Binance market data.'),
  email.wrap, pass.wrap, submit, msg,
  h('p', { class: 'muted' }, signup ? ['Have an account? ', h('a', { href: '#/login' }, 'Log in')] : ['New here? ', h('a', { href: '#/signup' }, 'Create an account')]));
  put(main, h('section', { class: 'center' }, form));
  email.input.focus();
  return null;
}
