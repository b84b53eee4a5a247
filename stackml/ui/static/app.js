// Page behaviour shared by every page: theme toggle, tabs, auto-submitting selects, run
// selection for comparison and the compare page's "only differences" switch. Event handlers
// are attached here (never inline) so the Content-Security-Policy can forbid inline script.
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // Handlers are attached once per element, however often a fragment is re-initialised.
  function bindOnce(el) {
    if (el.dataset.bound) return false;
    el.dataset.bound = "1";
    return true;
  }

  function initTheme() {
    var button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", function () { window.stackmlTheme.toggle(); });
  }

  // Tabs: buttons with data-tab show the panel with id "tab-<name>"; the hash remembers it.
  function initTabs() {
    var tabs = document.querySelectorAll(".tab[data-tab]");
    if (!tabs.length) return;
    function show(name) {
      tabs.forEach(function (tab) {
        var on = tab.dataset.tab === name;
        tab.classList.toggle("active", on);
        tab.setAttribute("aria-selected", on ? "true" : "false");
        var panel = document.getElementById("tab-" + tab.dataset.tab);
        if (panel) { panel.hidden = !on; panel.classList.toggle("active", on); }
      });
      document.dispatchEvent(new CustomEvent("stackml:tab", { detail: name }));
    }
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () {
        show(tab.dataset.tab);
        history.replaceState(null, "", "#" + tab.dataset.tab);
      });
    });
    var initial = location.hash.slice(1);
    if (initial && document.getElementById("tab-" + initial)) show(initial);
  }

  // Selects marked data-autosubmit submit their form on change (HTMX boosts the form).
  function initAutosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      if (!bindOnce(select)) return;
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
  }

  // Runs table selection: enables "Compare" once two or more runs are ticked.
  function updateCompare() {
    var button = document.getElementById("compare-button");
    if (!button) return;
    var n = document.querySelectorAll(".run-select:checked").length;
    document.getElementById("compare-count").textContent = String(n);
    button.disabled = n < 2;
  }
  function initSelection(root) {
    var all = root.querySelector("#select-all");
    if (all && bindOnce(all)) {
      all.addEventListener("change", function () {
        document.querySelectorAll(".run-select").forEach(function (box) { box.checked = all.checked; });
        updateCompare();
      });
    }
    root.querySelectorAll(".run-select").forEach(function (box) {
      if (bindOnce(box)) box.addEventListener("change", updateCompare);
    });
    updateCompare();
  }

  function initDiffToggle() {
    var toggle = document.getElementById("only-changed");
    var table = document.getElementById("param-diff");
    if (!toggle || !table) return;
    function apply() { table.classList.toggle("only-changed", toggle.checked); }
    toggle.addEventListener("change", apply);
    apply();
  }

  onReady(function () {
    initTheme();
    initTabs();
    initAutosubmit(document);
    initSelection(document);
    initDiffToggle();
    // Fragments swapped in by HTMX need their handlers too.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      initAutosubmit(document);
      initSelection(document);
    });
  });
})();
