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
