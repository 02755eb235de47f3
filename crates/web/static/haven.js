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

  // 4. The booth board. Timers count in the browser from server timestamps
  //    (dcr-practice §7.3: the software is never on the critical path; a
  //    dropped connection does not stop the clocks). The alarm rule is the
  //    same as haven_domain::floor::alarm: red when the time limit passes or
  //    an emergency is open, amber when the check interval passes.
  const board = document.getElementById('board');
  if (board) {
    let offset = 0; // server clock minus browser clock, ms
    let sound = false;
    let lastRed = 0;
    let audio = null;
    const baseTitle = document.title;
    const icon = document.querySelector('link[rel="icon"]');
    const status = document.getElementById('board-status');

    const syncClock = function () {
      const meta = board.querySelector('.board-meta');
      const at = meta ? Date.parse(meta.getAttribute('data-rendered-at') || '') : NaN;
      if (!isNaN(at)) offset = at - Date.now();
    };
    const fmt = function (ms) {
      const s = Math.max(0, Math.floor(ms / 1000));
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      const sec = String(s % 60).padStart(2, '0');
      return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + sec : m + ':' + sec;
    };
    const beep = function () {
      try {
        audio = audio || new (window.AudioContext || window.webkitAudioContext)();
        const o = audio.createOscillator();
        const g = audio.createGain();
        o.frequency.value = 880;
        g.gain.value = 0.2;
        o.connect(g); g.connect(audio.destination);
        o.start(); o.stop(audio.currentTime + 0.4);
      } catch (e) { /* no audio: the colours and title still show */ }
    };
    const tick = function () {
      const now = Date.now() + offset;
      board.querySelectorAll('.elapsed[data-since]').forEach(function (el) {
        const t = Date.parse(el.getAttribute('data-since') || '');
        if (!isNaN(t)) el.textContent = fmt(now - t);
      });
      let amber = 0;
      let red = 0;
      board.querySelectorAll('.space[data-started]').forEach(function (el) {
        const started = Date.parse(el.getAttribute('data-started'));
        const last = Date.parse(el.getAttribute('data-last-check') || '');
        const since = isNaN(last) ? started : Math.max(last, started);
        const check = Number(el.getAttribute('data-check-secs')) * 1000;
        const limit = Number(el.getAttribute('data-limit-secs')) * 1000;
        let alarm = 'normal';
        if (el.hasAttribute('data-emergency') || now - started >= limit) alarm = 'red';
        else if (now - since >= check) alarm = 'amber';
        el.setAttribute('data-alarm', alarm);
        const text = el.querySelector('.alarm-text');
        if (text) text.textContent = alarm === 'red' ? ' · TIME LIMIT / EMERGENCY' : alarm === 'amber' ? ' · CHECK DUE' : '';
        const sc = el.querySelector('.since-check');
        if (sc) sc.textContent = 'check ' + fmt(now - since) + ' ago';
        if (alarm === 'red') red++;
        if (alarm === 'amber') amber++;
      });
      red += board.querySelectorAll('.board-emergency').length;
      // A background tab still shows it: title and icon change.
      document.title = red + amber > 0 ? '(' + (red ? red + ' red' : '') + (red && amber ? ', ' : '') +
        (amber ? amber + ' amber' : '') + ') ' + baseTitle : baseTitle;
      if (icon) icon.setAttribute('href', red + amber > 0 ? '/static/favicon-alert.svg' : '/static/favicon.svg');
      if (sound && red > lastRed) beep();
      lastRed = red;
    };
    const soundButton = document.getElementById('board-sound');
    if (soundButton) {
      soundButton.addEventListener('click', function () {
        sound = !sound;
        soundButton.setAttribute('aria-pressed', String(sound));
        soundButton.textContent = sound ? 'Sound on' : 'Sound off';
        if (sound) beep();
      });
    }
    document.body.addEventListener('htmx:sseMessage', function () {
      syncClock();
      tick();
      if (status) { status.textContent = 'Live'; status.classList.remove('offline'); }
    });
    document.body.addEventListener('htmx:sseError', function () {
      // EventSource reconnects by itself; the first message after it is the whole board.
      if (status) { status.textContent = 'Reconnecting… timers still running'; status.classList.add('offline'); }
    });
    syncClock();
    tick();
    window.setInterval(tick, 1000);
  }

  // 5. Alerts carry their expiry: one that expires while a page (or a board
  //    with no other change) stays open disappears by itself.
  const hideExpired = function () {
    document.querySelectorAll('.alert-line[data-expires]').forEach(function (el) {
      const t = Date.parse(el.getAttribute('data-expires') || '');
      if (!isNaN(t) && Date.now() >= t) el.hidden = true;
    });
  };
  hideExpired();
  window.setInterval(hideExpired, 15000);
  document.body.addEventListener('htmx:sseMessage', hideExpired);

  // journey: a button with data-print prints the page (CSP forbids inline
  // onclick); the print stylesheet in haven.css hides navigation and forms.
  document.addEventListener('click', function (evt) {
    const el = evt.target instanceof Element ? evt.target.closest('[data-print]') : null;
    if (el) {
      evt.preventDefault();
      window.print();
    }
  });

  // community: <input type="file" data-csv-into="textarea id"> reads the
  //    chosen file into the textarea (CSP forbids inline script), and puts
  //    its name in the input named by data-csv-name. A file larger than
  //    data-csv-max bytes is refused here: the server would refuse it anyway.
  document.querySelectorAll('input[type="file"][data-csv-into]').forEach(function (input) {
    input.addEventListener('change', function () {
      const file = input.files && input.files[0];
      const target = document.getElementById(input.getAttribute('data-csv-into') || '');
      const nameInput = document.getElementById(input.getAttribute('data-csv-name') || '');
      const max = parseInt(input.getAttribute('data-csv-max') || '0', 10);
      if (!file || !target) return;
      if (max > 0 && file.size > max) {
        input.setCustomValidity('This file is too large for one import; split it into smaller files.');
        input.reportValidity();
        input.value = '';
        return;
      }
      input.setCustomValidity('');
      const reader = new FileReader();
      reader.addEventListener('load', function () {
        target.value = typeof reader.result === 'string' ? reader.result : '';
        if (nameInput) nameInput.value = file.name;
        target.focus();
      });
      reader.readAsText(file);
    });
  });
  // supplies: <button data-pack="item:qty item:qty" data-pack-form="handout">
  //    adds one standard pack to the form's number boxes (#<form>-q_<item>).
  document.querySelectorAll('button[data-pack]').forEach(function (button) {
    button.addEventListener('click', function () {
      const form = button.getAttribute('data-pack-form') || '';
      (button.getAttribute('data-pack') || '').split(' ').forEach(function (pair) {
        const [item, qty] = pair.split(':');
        const box = document.getElementById(form + '-q_' + item);
        const n = parseInt(qty || '', 10);
        if (!box || Number.isNaN(n)) return;
        const now = parseInt(box.value || '0', 10);
        box.value = String((Number.isNaN(now) ? 0 : now) + n);
      });
    });
  });
})();
