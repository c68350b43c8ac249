// Quartet: write a better answer. `w` (or the link) opens the editor dialog of the task on
// screen; a number picks one of the four and starts the answer from it; Ctrl+Enter saves.
// Without JavaScript the link leads to a page with the same form. A failed save is shown in
// the dialog, which stays open with the text, never lost silently.
(function () {
  "use strict";
  let shownAssignment = null;
  let shownAt = performance.now();
  let openedAt = 0;
  let savedNotice = false;

  function currentTask() {
    return document.querySelector("#labeler > form.task");
  }

  function noteShown() {
    const form = currentTask();
    const id = form ? form.dataset.assignment : null;
    if (id !== shownAssignment) {
      shownAssignment = id;
      shownAt = performance.now();
    }
  }

  function openEditor(form) {
    const dialog = form.querySelector("dialog.demo-editor");
    if (!dialog || dialog.open) return;
    dialog.querySelector(".demo-error").hidden = true;
    openedAt = performance.now();
    dialog.showModal();
    const picked = dialog.querySelector('input[name="demo_position"]:checked');
    (picked || dialog.querySelector(".demo-text")).focus();
  }

  function pick(dialog, slot) {
    const radio = dialog.querySelector('input[name="demo_position"][data-slot="' + slot + '"]');
    if (!radio) return;
    radio.checked = true;
    const text = dialog.querySelector(".demo-text");
    const source = dialog.querySelector('.demo-source[data-slot="' + slot + '"]');
    // Prefill only over an untouched editor (empty, or still the previous pick's text).
    if (source && (!text.value || text.value === text.dataset.prefill)) {
      text.value = source.value;
      text.dataset.prefill = source.value;
    }
    text.focus();
    text.setSelectionRange(text.value.length, text.value.length);
  }

  function showError(dialog, message) {
    const p = dialog.querySelector(".demo-error");
    p.textContent = message;
    p.hidden = false;
  }

  document.addEventListener("click", function (evt) {
    const link = evt.target.closest && evt.target.closest('a[data-action="write"]');
    if (link) {
      const form = link.closest("form.task");
      if (form) {
        evt.preventDefault();
        openEditor(form);
      }
      return;
    }
    const cancel = evt.target.closest && evt.target.closest('[data-action="demo-cancel"]');
    if (cancel) cancel.closest("dialog").close();
  });

  document.addEventListener("keydown", function (evt) {
    const dialog = evt.target.closest && evt.target.closest("dialog.demo-editor");
    if (dialog) {
      // Keys typed in the editor are the editor's: the labeling shortcuts must not see them.
      evt.stopPropagation();
      if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) {
        evt.preventDefault();
        dialog.querySelector('[data-action="demo-save"]').click();
      } else if (!evt.target.matches("textarea") && /^[0-4]$/.test(evt.key)) {
        evt.preventDefault();
        pick(dialog, evt.key);
      }
      return;
    }
    // The page of a demonstration task: Ctrl+Enter saves there too.
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey) && evt.target.closest && evt.target.closest("form.demo-task")) {
      evt.preventDefault();
      evt.target.closest("form.demo-task").querySelector('[data-action="demo-save"]').click();
      return;
    }
    if (evt.key !== "w" || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (evt.target.matches && evt.target.matches("textarea, input, select")) return;
    const form = currentTask();
    if (form) {
      evt.preventDefault();
      openEditor(form);
    }
  }, true);  // capture: decide before the page's own shortcuts

  document.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt.matches || !evt.detail.elt.matches('[data-action="demo-save"]')) return;
    const set = function (k, v) {
      evt.detail.parameters.set ? evt.detail.parameters.set(k, v) : (evt.detail.parameters[k] = v);
    };
    set("decision_ms", Math.round(performance.now() - shownAt));
    set("demo_ms", Math.round(performance.now() - openedAt));
  });

  function isSave(evt) {
    return evt.detail.elt && evt.detail.elt.matches && evt.detail.elt.matches('[data-action="demo-save"]');
  }
  // beforeSwap, not afterRequest: the swap detaches the button, and events from a detached
  // element never reach the document. (beforeSwap fires on the target; the button that asked
  // is the request's.)
  document.addEventListener("htmx:beforeSwap", function (evt) {
    const source = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (source && source.matches && source.matches('[data-action="demo-save"]') && evt.detail.xhr.status < 400) {
      savedNotice = true;
    }
  });
  document.addEventListener("htmx:responseError", function (evt) {
    if (!isSave(evt)) return;
    showError(evt.detail.elt.closest("dialog"),
      evt.detail.xhr.responseText || "The answer could not be saved; try again.");
  });
  document.addEventListener("htmx:sendError", function (evt) {
    if (!isSave(evt)) return;
    showError(evt.detail.elt.closest("dialog"),
      "The server could not be reached; your answer is not saved yet. Try again.");
  });

  function afterSwap() {
    noteShown();
    if (savedNotice) {
      savedNotice = false;
      const labeler = document.getElementById("labeler");
      if (labeler) {
        const p = document.createElement("p");
        p.className = "flash success demo-saved";
        p.setAttribute("role", "status");
        p.textContent = "Your answer was saved.";
        labeler.prepend(p);
      }
    }
    // The project asks this annotator for a written answer next.
    const due = document.querySelector("[data-demonstration-due]");
    if (due) window.location.assign(due.dataset.demonstrationDue);
  }
  document.addEventListener("htmx:afterSettle", afterSwap);
  document.addEventListener("DOMContentLoaded", afterSwap);

  // Demonstration-task page: time spent writing goes with the form.
  document.addEventListener("submit", function (evt) {
    const form = evt.target;
    if (form.matches && form.matches("form.demo-task")) {
      form.querySelector('input[name="demo_ms"]').value = Math.round(performance.now());
    }
  });
})();
