// Studium's own script: small behaviours htmx does not cover. No inline scripts are allowed
// by the Content-Security-Policy, so everything page-specific hooks in here by data attributes.
(function () {
  "use strict";
  // Move focus to the main region after an htmx navigation, for keyboard and screen-reader users.
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail && e.detail.boosted) {
      var main = document.getElementById("main");
      if (main) main.focus();
    }
  });
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
