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
