// Chat tasks: toggle between rendered Markdown and the raw text (button or the `r` key).
// The choice is kept on <html> so it survives the swap to the prefetched task, and for the tab.
(function () {
  "use strict";
  const KEY = "quartet.showRaw";
  const root = document.documentElement;

  function apply(raw) {
    root.classList.toggle("show-raw", raw);
    document.querySelectorAll('[data-action="raw"]').forEach(function (b) {
      b.setAttribute("aria-pressed", raw ? "true" : "false");
    });
  }
  function toggle() {
    const raw = !root.classList.contains("show-raw");
    try { sessionStorage.setItem(KEY, raw ? "1" : ""); } catch (e) { /* storage may be off */ }
    apply(raw);
  }

  document.addEventListener("click", function (evt) {
    const button = evt.target.closest && evt.target.closest('[data-action="raw"]');
    if (button) { evt.preventDefault(); toggle(); }
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "r" || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (evt.target.matches && evt.target.matches("textarea, input, select")) return;
    if (!document.querySelector('#labeler [data-action="raw"]')) return;
    evt.preventDefault();
    toggle();
  });
  function restore() {
    let raw = false;
    try { raw = sessionStorage.getItem(KEY) === "1"; } catch (e) { /* storage may be off */ }
    apply(raw);
  }
  document.addEventListener("DOMContentLoaded", restore);
  document.addEventListener("htmx:afterSettle", function () { apply(root.classList.contains("show-raw")); });
})();
