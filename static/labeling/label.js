// Quartet labeling page: keyboard shortcuts, decision timer, instant swap to the prefetched task.
// Without JavaScript the page is plain forms; this file only enhances it.
(function () {
  "use strict";
  let displayedAssignment = null;
  let shownAt = 0;

  function currentForm() {
    return document.querySelector("#labeler > form.task");
  }

  // Start the decision timer whenever a different task becomes visible.
  function noteDisplayed() {
    const form = currentForm();
    const id = form ? form.dataset.assignment : null;
    if (id !== displayedAssignment) {
      displayedAssignment = id;
      shownAt = performance.now();
    }
  }

  // Swap the prefetched task in before the server answers, so the next task appears at once.
  function advance(form) {
    const upcoming = document.getElementById("upcoming");
    const next = upcoming && upcoming.content.querySelector("form.task");
    if (!next) return;
    const clone = document.importNode(next, true);
    upcoming.innerHTML = "";
    form.replaceWith(clone);
    htmx.process(clone);
    noteDisplayed();
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    const form = evt.detail.elt;
    if (!form.matches || !form.matches("form.task")) return;
    evt.detail.parameters.set
      ? evt.detail.parameters.set("decision_ms", Math.round(performance.now() - shownAt))
      : (evt.detail.parameters["decision_ms"] = Math.round(performance.now() - shownAt));
  });

  // beforeSend: the request is already built, so replacing its form cannot cancel it.
  document.addEventListener("htmx:beforeSend", function (evt) {
    const form = evt.detail.elt;
    if (form.matches && form.matches("form.task") && form.isConnected && form === currentForm()) {
      advance(form);
    }
  });

  document.addEventListener("htmx:afterSettle", noteDisplayed);
  document.addEventListener("DOMContentLoaded", noteDisplayed);

  function showError(text) {
    const labeler = document.getElementById("labeler");
    if (!labeler) return;
    const p = document.createElement("p");
    p.className = "flash error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    labeler.prepend(p);
  }
  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached; your last decision may not be saved. Reload to check.");
  });
  document.addEventListener("htmx:responseError", function () {
    showError("The server refused that action; reload the page to continue.");
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.ctrlKey || evt.metaKey || evt.altKey) return;
    const target = evt.target;
    if (target.matches && target.matches("textarea, input, select")) {
      if (evt.key === "Enter" && !evt.shiftKey && target.name === "comment") {
        evt.preventDefault();
        target.closest("form").querySelector('[data-action="flag"]').click();
      }
      return;
    }
    const form = currentForm();
    let button = null;
    if (["1", "2", "3", "4"].includes(evt.key) && form) {
      button = form.querySelector('.card[data-slot="' + evt.key + '"]');
    } else if (evt.key === "s" && form) {
      button = form.querySelector('[data-action="skip"]');
    } else if (evt.key === "f" && form) {
      const details = form.querySelector("details.flag");
      details.open = true;
      details.querySelector("textarea").focus();
      evt.preventDefault();
      return;
    } else if (evt.key === "u") {
      button = document.querySelector('#labeler [data-action="undo"]');
    }
    if (button) {
      evt.preventDefault();
      button.click();
    }
  });
})();
