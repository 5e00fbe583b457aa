// Set a password with an invitation's one-time token (the part of the link after #).

import { api, ApiError } from './api.js';

const token = location.hash.slice(1);
const form = document.getElementById('password-form');
const message = document.getElementById('message');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  message.textContent = '';
  try {
    const done = await api('POST', '/editor/password', { token, password: document.getElementById('password').value });
    history.replaceState(null, '', '/editor/password');
    message.textContent = `Password set for ${done.login}. Sign in at /editor.`;
  } catch (err) {
    message.textContent = err instanceof ApiError ? (err.describe() || err.problem.detail) : String(err);
  }
});
