// Light/dark theme: applied before first paint (this script is loaded synchronously in <head>)
// so pages never flash the wrong colours. The choice is kept in localStorage; without one the
// operating system's preference wins.
(function () {
  "use strict";
  var KEY = "stackml-theme";
  function preferred() {
    var saved = null;
    try { saved = localStorage.getItem(KEY); } catch (e) { /* storage disabled */ }
    if (saved === "light" || saved === "dark") return saved;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function apply(theme) {
    document.documentElement.setAttribute("data-theme", theme);
    document.dispatchEvent(new CustomEvent("stackml:theme", { detail: theme }));
  }
  apply(preferred());
  window.stackmlTheme = {
    toggle: function () {
      var next = document.documentElement.getAttribute("data-theme") === "dark" ? "light" : "dark";
      try { localStorage.setItem(KEY, next); } catch (e) { /* storage disabled */ }
      apply(next);
    },
  };
})();
