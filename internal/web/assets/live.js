// live.js: pages marked <body data-live="SECONDS"> re-read themselves every
// SECONDS and swap in the new <main> and "read at" line without a reload,
// unless the user is typing in a form on the page. No dependencies.
(function () {
  "use strict";
  var every = Number(document.body.dataset.live) * 1000;
  if (!every) return;
  function busy() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA");
  }
  function tick() {
    if (document.visibilityState !== "visible" || busy()) return;
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var main = doc.querySelector("main"), sub = doc.querySelector("header .sub");
        if (main) {
          // A <details> the user opened stays open.
          document.querySelectorAll("main details[open][id]").forEach(function (d) {
            var n = main.querySelector("details[id='" + d.id + "']");
            if (n) n.open = true;
          });
          document.querySelector("main").replaceWith(main);
        }
        if (sub) document.querySelector("header .sub").replaceWith(sub);
      })
      .catch(function () { /* the next tick tries again */ });
  }
  setInterval(tick, every);
})();
