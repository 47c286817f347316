// Keeps the overview current: reads /api/v1/status every 10 s and writes the fields marked
// data-field / data-count. Text only (textContent): nothing from the answer becomes markup.
(function () {
  "use strict";
  var live = document.querySelector('[data-live="status"]');
  if (!live || !window.fetch) { return; }
  function set(sel, text) {
    var el = document.querySelector(sel);
    if (el) { el.textContent = text; }
  }
  function refresh() {
    fetch("/api/v1/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        set('[data-field="role"]', s.role);
        set('[data-field="pending"]', String(s.pending_pairs));
        // Times as the server writes them, in the schedule's zone.
        set('[data-field="next_tick"]', s.display.next_tick);
        set('[data-field="computed_at"]', s.display.computed_at);
        if (s.display.last_cycle) {
          set('[data-field="last_cycle"]', s.display.last_cycle);
        }
        document.querySelectorAll("[data-count]").forEach(function (el) {
          var n = s.counts[el.getAttribute("data-count")];
          el.textContent = String(n || 0);
        });
        document.body.setAttribute("data-refreshed", s.computed_at);
      })
      .catch(function () {});
  }
  refresh();
  setInterval(refresh, 10000);
})();
