// Studium's own script: small behaviours htmx does not cover. No inline scripts are allowed
// by the Content-Security-Policy, so everything page-specific hooks in here by data attributes.
(function () {
  "use strict";
  // A request that could not reach the server at all: say so at the top of the page.
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("page-alert");
    if (box) box.textContent = "Studium could not be reached. Check your connection and try again.";
  });
  // Move focus to the main region after an htmx navigation, for keyboard and screen-reader users.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail && e.detail.boosted) {
      var main = document.getElementById("main");
      if (main) main.focus();
    }
  });
})();

// ---------------------------------------------------------------------------------------------
// Learning pages: the study timer. The page renders the running session's start and the
// server's time of rendering (`data-started-at`, `data-now`); the clock counts from there, so
// a reload or a wrong clock on this device does not change what it shows.
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function format(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }
  function start(el) {
    if (el.getAttribute("data-ticking") === "true") return;
    var started = Date.parse(el.getAttribute("data-started-at"));
    var serverNow = Date.parse(el.getAttribute("data-now"));
    if (isNaN(started) || isNaN(serverNow)) return;
    el.setAttribute("data-ticking", "true");
    var loaded = Date.now();
    var timer = null;
    function tick() {
      if (!document.body.contains(el)) { window.clearInterval(timer); return; }
      var seconds = Math.floor((serverNow - started + (Date.now() - loaded)) / 1000);
      el.textContent = format(seconds);
      el.setAttribute("datetime", "PT" + Math.max(0, seconds) + "S");
    }
    tick();
    timer = window.setInterval(tick, 1000);
  }
  function scan(root) {
    var found = (root || document).querySelectorAll("[data-started-at]");
    for (var i = 0; i < found.length; i++) start(found[i]);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.target || document); });
})();

// --- Tutor and quizzes ---------------------------------------------------------------------
// A form marked `data-swap-errors` shows the server's answer to a refused request (a 4xx with
// the form and its errors, which the server retargets onto the form) instead of dropping it.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (e) {
    var d = e.detail;
    if (!d || !d.xhr || d.xhr.status < 400 || d.xhr.status >= 500) return;
    var elt = d.requestConfig && d.requestConfig.elt;
    if (elt && elt.closest && elt.closest("[data-swap-errors]")) {
      d.shouldSwap = true;
      d.isError = false;
    }
  });
  // After a refused question, put the focus on the first field in error.
  document.addEventListener("htmx:afterSettle", function (e) {
    var form = document.getElementById("ask-form");
    if (!form || !e.detail || e.detail.elt !== form) return;
    var bad = form.querySelector("[aria-invalid='true']");
    if (bad) bad.focus();
  });
})();

// Notes (materials): the upload form's progress bar, a size check before sending, and the
// form's field errors on a refused upload (htmx swaps only 2xx answers by default).
(function () {
  "use strict";
  function uploadForm(el) {
    return el && el.closest ? el.closest("form[data-upload-progress]") : null;
  }
  function showFileError(form, text) {
    var input = form.querySelector("input[type=file]");
    if (!input) return;
    var error = form.querySelector("#file-error");
    if (!error) {
      error = document.createElement("p");
      error.id = "file-error";
      error.className = "field-error";
      error.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", error);
    }
    error.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "file-error");
    if (input.parentElement) input.parentElement.classList.add("has-error");
  }
  document.addEventListener("htmx:confirm", function (e) {
    var form = uploadForm(e.target);
    if (!form || form !== e.target) return;
    var input = form.querySelector("input[type=file]");
    var max = input ? Number(input.getAttribute("data-max-bytes")) : 0;
    var file = input && input.files && input.files[0];
    if (file && max > 0 && file.size > max) {
      e.preventDefault();
      showFileError(form, "This file is larger than the upload limit of " +
        (max / (1024 * 1024)).toFixed(1) + " MB.");
    }
  });
  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = uploadForm(e.target);
    var bar = form && form.querySelector("progress");
    if (bar) { bar.value = 0; bar.hidden = false; }
  });
  document.addEventListener("htmx:xhr:progress", function (e) {
    var form = uploadForm(e.target);
    var bar = form && form.querySelector("progress");
    if (bar && e.detail && e.detail.lengthComputable && e.detail.total > 0) {
      bar.value = Math.round((e.detail.loaded * 100) / e.detail.total);
    }
  });
  // The form that sent a request (an event's `elt` may be its target instead).
  function sender(e) {
    return uploadForm((e.detail.requestConfig && e.detail.requestConfig.elt) || e.detail.elt || e.target);
  }
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!sender(e)) return;
    var status = e.detail.xhr.status;
    if (status >= 400 && status < 500 && status !== 401 && status !== 403) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  document.addEventListener("htmx:sendError", function (e) {
    var form = sender(e);
    if (!form) return;
    var bar = form.querySelector("progress");
    if (bar) bar.hidden = true;
    showFileError(form, "The upload was interrupted. If the file is large, it may be over the limit; otherwise try again.");
  });
})();
