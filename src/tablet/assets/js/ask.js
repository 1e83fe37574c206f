// One modal question at a time ("take 8 at once?", "pack before picking?", "supervisor PIN"):
// resolves {ok: true, pin} or {ok: false}. Hooks: confirm-dialog, confirm-ok, confirm-cancel,
// confirm-pin.

import { t } from './i18n.js';
import { $, unbroken } from './views.js';

let pending = null;

function finish(result) {
  const d = $('ask');
  const p = pending;
  pending = null;
  if (d.open) d.close();
  if (p) p(result);
}

/** {title, text, ok, pin: bool, kind: 'warn' | 'info', check(pin) → error text | ''} */
export function ask({ title, text = '', ok, pin = false, kind = 'info', check = null }) {
  if (pending) finish({ ok: false });
  const d = $('ask');
  d.className = `ask ask-${kind}`;
  $('ask-title').replaceChildren(...unbroken(title));
  $('ask-text').replaceChildren(...unbroken(text));
  $('ask-text').hidden = !text;
  $('ask-ok').textContent = ok || t('ok');
  $('ask-cancel').textContent = t('cancel');
  $('ask-pin-label').textContent = t('supervisorPin');
  $('ask-pin-box').hidden = !pin;
  $('ask-pin').value = '';
  $('ask-error').hidden = true;
  d.check = check;
  d.showModal();
  // Not the confirm button: a barcode scanner's Enter (the next scan) must never answer
  // "yes" to a question it did not read.
  (pin ? $('ask-pin') : $('ask-cancel')).focus();
  return new Promise((resolve) => { pending = resolve; });
}

export function isOpen() { return $('ask').open; }

/** Shows an error under the question and keeps it open (a wrong PIN). */
export function fail(text) {
  const e = $('ask-error');
  e.textContent = text;
  e.hidden = false;
}

export function wire() {
  $('ask-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = $('ask');
    const pin = $('ask-pin-box').hidden ? undefined : $('ask-pin').value.trim();
    if (pin !== undefined && !pin) { fail(t('needPin')); return; }
    if (d.check) {
      $('ask-ok').disabled = true;
      let err = '';
      try { err = await d.check(pin); } finally { $('ask-ok').disabled = false; }
      if (err) { fail(err); return; }
    }
    finish({ ok: true, pin });
  });
  $('ask-cancel').addEventListener('click', () => finish({ ok: false }));
  $('ask').addEventListener('cancel', (ev) => { ev.preventDefault(); finish({ ok: false }); });
}
