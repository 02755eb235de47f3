/* Haven: small page behaviours. No inline scripts or eval (CSP).
 * Load after htmx.min.js and htmx-ext-sse.js. Plain ES2017. */
(function () {
  'use strict';

  // Token rendered by the server in <meta name="csrf-token" content="...">.
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : null;
  }

  // True when a request path resolves to this page's own origin.
  function sameOrigin(path) {
    try {
      return new URL(path, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  // 1. Every htmx request to our own origin carries the CSRF token as a header.
  document.addEventListener('htmx:configRequest', function (evt) {
    const token = csrfToken();
    const detail = evt.detail;
    if (token && detail && detail.headers && sameOrigin(detail.path || '')) {
      detail.headers['X-CSRF-Token'] = token;
    }
  });

  // 2. After an htmx swap, move focus to swapped-in content marked autofocus.
  //    The event fires on the new/updated element, which is in the document.
  document.addEventListener('htmx:afterSwap', function (evt) {
    const root = evt.target;
    if (!(root instanceof Element)) return;
    const el = root.matches('[autofocus]') ? root : root.querySelector('[autofocus]');
    if (el && typeof el.focus === 'function' && document.activeElement !== el) {
      el.focus();
    }
  });

  // 3. <form data-confirm="text">: ask before submitting; cancel if declined.
  //    Capture phase on window runs before htmx's own submit listener on the
  //    form, so stopping propagation here also stops hx-post/hx-boost forms.
  window.addEventListener('submit', function (evt) {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
    const text = form.getAttribute('data-confirm') || 'Are you sure?';
    if (!window.confirm(text)) {
      evt.preventDefault();
      evt.stopImmediatePropagation();
    }
  }, true);
})();
