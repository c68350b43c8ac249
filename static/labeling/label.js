// Quartet labeling page: keyboard shortcuts, decision timer, instant swap to the prefetched task,
// and saves that never fail silently.
// Without JavaScript the page is plain forms (post, redirect, get); this file only enhances it.
//
// A decision swaps the prefetched task in at once and then POSTs, one request per decision:
// the answer carries only the task after next (or the whole labeler when the page and the
// server disagree). Saves go out one at a time, in order. A save that fails for a transient
// reason (network, 5xx, 503 with Retry-After) is retried: the server refuses a second, different
// decision on a task and acknowledges the same one again, so a retry never stores twice. A save
// that still fails stays listed in #save-status, naming its task, with a retry button.
(function () {
  "use strict";
  const RETRY_DELAYS_MS = [300, 1000, 2500];  // then give up and ask the annotator
  const MAX_RETRY_AFTER_MS = 10000;
  let displayedAssignment = null;
  let shownAt = 0;
  const queue = [];  // saves waiting to be sent, oldest first
  let sending = false;
  const undoWaiting = [];  // undo requests held until every earlier save has an answer

  function labeler() {
    return document.getElementById("labeler");
  }

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

  // The form of the prefetched task, taken out of its template (null when none has arrived).
  function takeUpcoming() {
    const upcoming = document.getElementById("upcoming");
    const next = upcoming && upcoming.content.querySelector("form.task");
    if (!next) return null;
    const clone = document.importNode(next, true);
    upcoming.innerHTML = "";
    return clone;
  }

  // Show the prefetched task in place of ``form`` if it has arrived; else mark ``form`` as
  // saving (its buttons do nothing more) until the answer brings what comes next.
  function advance(form) {
    const next = takeUpcoming();
    if (next) {
      form.replaceWith(next);
      htmx.process(next);
      noteDisplayed();
    } else {
      form.classList.add("saving");
      form.setAttribute("aria-busy", "true");
    }
  }

  // --- the save queue ---

  function heldAssignment() {
    const form = currentForm();
    return form && !form.classList.contains("saving") ? form.dataset.assignment : "";
  }

  function statusBox() {
    return document.getElementById("save-status");
  }

  function clearStatus(save) {
    const box = statusBox();
    const old = box && box.querySelector('[data-save-task="' + save.task + '"]');
    if (old) old.remove();
  }

  // A persistent message naming the unsaved task; with a retry button when retrying can help.
  function showUnsaved(save, reason, canRetry) {
    const box = statusBox();
    if (!box) return;
    clearStatus(save);
    const p = document.createElement("p");
    p.className = "flash error unsaved";
    p.setAttribute("role", "alert");
    p.dataset.saveTask = save.task;
    p.textContent = "Task " + save.task + " was not saved: " + reason + " ";
    if (canRetry) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "secondary";
      retry.dataset.action = "retry-save";
      retry.textContent = "Retry saving task " + save.task;
      retry.addEventListener("click", function () {
        p.classList.add("retrying");
        retry.disabled = true;
        save.attempt = 0;
        enqueue(save);
      });
      p.append(retry);
    } else {
      const dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "link";
      dismiss.textContent = "Dismiss";
      dismiss.addEventListener("click", function () { p.remove(); });
      p.append(dismiss);
    }
    box.append(p);
  }

  function enqueue(save) {
    queue.push(save);
    pump();
  }

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function retryDelay(save, response) {
    const header = response && response.headers.get("Retry-After");
    const seconds = header ? parseFloat(header) : NaN;
    const base = RETRY_DELAYS_MS[save.attempt - 1];
    return isNaN(seconds) ? base : Math.min(Math.max(base, seconds * 1000), MAX_RETRY_AFTER_MS);
  }

  async function send(save) {
    const body = new URLSearchParams(save.params);
    body.set("held", heldAssignment());
    return fetch(save.url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {"HX-Request": "true", "X-CSRFToken": save.csrf},
    });
  }

  // Send one save, retrying transient failures. Resolves to true when stored.
  async function deliver(save) {
    for (;;) {
      let response = null;
      let reason;
      try {
        response = await send(save);
        if (response.ok) {
          applyAnswer(await response.text());
          return true;
        }
        if (response.status < 500) {
          // Refused (409: decided elsewhere, lease gone; 400: unreadable): retrying cannot help.
          const text = await response.text();
          const doc = parse(text);
          const error = doc.querySelector(".flash.error");
          showUnsaved(save, error ? error.textContent.trim() : "the server refused it (HTTP " + response.status + ").", false);
          if (doc.getElementById("labeler") && queue.length === 0) replaceLabeler(doc);
          return false;
        }
        reason = response.status === 503 ? "the database was busy." : "the server failed (HTTP " + response.status + ").";
      } catch (err) {
        reason = "the server could not be reached.";
      }
      save.attempt += 1;
      if (save.attempt > RETRY_DELAYS_MS.length) {
        showUnsaved(save, reason, true);
        return false;
      }
      await wait(retryDelay(save, response));
    }
  }

  async function pump() {
    if (sending) return;
    sending = true;
    try {
      while (queue.length) {
        const save = queue.shift();
        const stored = await deliver(save);
        if (stored) clearStatus(save);
      }
    } finally {
      sending = false;
    }
    while (undoWaiting.length && !queue.length) undoWaiting.shift()();
  }

  function parse(html) {
    return new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
  }

  function replaceLabeler(doc) {
    const fresh = document.importNode(doc.getElementById("labeler"), true);
    labeler().replaceWith(fresh);
    htmx.process(fresh);
    noteDisplayed();
  }

  // The answer to a stored decision: either progress plus the task after next (#decided),
  // or the whole labeler when the page's view and the server's differ.
  function applyAnswer(html) {
    const doc = parse(html);
    const decided = doc.getElementById("decided");
    if (!decided) {
      // Later saves in the queue will bring a newer labeler; only the last one is shown.
      if (doc.getElementById("labeler") && queue.length === 0) replaceLabeler(doc);
      return;
    }
    const progress = document.getElementById("progress");
    const newProgress = decided.querySelector("#progress");
    if (progress && newProgress) {
      const fresh = document.importNode(newProgress, true);
      progress.replaceWith(fresh);
      htmx.process(fresh);
    }
    const form = currentForm();
    if (!form || form.dataset.assignment !== decided.dataset.current) {
      // The page shows something else than the server expects; fetch the labeler afresh.
      if (queue.length === 0) htmx.ajax("GET", window.location.pathname, {target: "#labeler", swap: "outerHTML"});
      return;
    }
    const upcoming = document.getElementById("upcoming");
    upcoming.innerHTML = decided.querySelector("#upcoming").innerHTML;
    // The shown task was decided while this answer was on its way: move on now.
    if (form.classList.contains("saving") && upcoming.content.querySelector("form.task")) advance(form);
  }

  // A decision: swap the next task in first, then save in the background.
  document.addEventListener("submit", function (evt) {
    const form = evt.target;
    if (!form.matches || !form.matches("#labeler > form.task")) return;
    evt.preventDefault();
    if (form.classList.contains("saving")) return;  // already decided; waiting for what is next
    const params = new FormData(form, evt.submitter);
    params.set("decision_ms", Math.round(performance.now() - shownAt));
    const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
    advance(form);
    // form.action would be the buttons named "action"; the attribute is the URL.
    enqueue({url: form.getAttribute("action"), params: Array.from(params.entries()), csrf: csrf,
             task: form.dataset.task, attempt: 0});
  });

  // Undo acts on the last stored decision, so it waits until every earlier save is answered.
  document.addEventListener("htmx:confirm", function (evt) {
    const elt = evt.detail.elt;
    if (!elt.closest || !elt.closest("#progress") || (!sending && !queue.length)) return;
    evt.preventDefault();
    undoWaiting.push(function () { evt.detail.issueRequest(true); });
  });

  document.addEventListener("htmx:afterSettle", noteDisplayed);
  document.addEventListener("DOMContentLoaded", noteDisplayed);

  function showError(text) {
    const box = labeler();
    if (!box) return;
    const p = document.createElement("p");
    p.className = "flash error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.prepend(p);
  }
  document.addEventListener("htmx:sendError", function () {
    showError("The server could not be reached. Please try again.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    const retryAfter = evt.detail.xhr.getResponseHeader("Retry-After");
    showError(retryAfter ? "The database was busy; try again in " + retryAfter + " s."
                         : "The server refused that action; reload the page to continue.");
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
