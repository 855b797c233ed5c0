/* tocsin dashboard: the few behaviours htmx does not give. No inline scripts (the pages'
   Content-Security-Policy forbids them); alert text is never put into the page by this
   script: what is swapped in is HTML the server rendered and escaped. */
(function () {
  "use strict";

  /* Alertmanager UI links (/#/silences/new?filter=..., /#/silences/<id>, /#/alerts?filter=...):
     the part after "#" never reaches the server, so it is read here. */
  function followAlertmanagerLink() {
    if (window.location.pathname !== "/") { return false; }
    var hash = window.location.hash || "";
    var q = hash.indexOf("?");
    var route = q >= 0 ? hash.slice(0, q) : hash;
    var query = q >= 0 ? hash.slice(q) : "";
    var m;
    if (route === "#/silences/new") {
      window.location.replace("/silences/new" + query);
    } else if ((m = /^#\/silences\/([0-9a-fA-F-]{36})$/.exec(route))) {
      window.location.replace("/silences/" + m[1]);
    } else if (route === "#/silences") {
      window.location.replace("/silences" + query);
    } else if (route === "#/alerts") {
      window.location.replace("/alerts" + query);
    } else {
      return false;
    }
    return true;
  }

  /* Where the keyboard focus is in the list (the alert's row, and the how-manieth control in
     it), so that a refresh puts it back on the same control instead of the page's start. */
  var CONTROLS = "a[href], button, summary, input, select, textarea";
  function focusPlace(list) {
    var active = document.activeElement;
    if (!active || !list.contains(active)) { return null; }
    var row = active.closest("[data-fingerprint]");
    var scope = row || list;
    return {fp: row ? row.getAttribute("data-fingerprint") : null,
            index: Array.prototype.indexOf.call(scope.querySelectorAll(CONTROLS), active)};
  }
  function restoreFocus(list, place) {
    if (!place || place.index < 0) { return; }
    var scope = list;
    if (place.fp !== null) {
      scope = Array.prototype.find.call(list.querySelectorAll("[data-fingerprint]"), function (row) {
        return row.getAttribute("data-fingerprint") === place.fp;
      });
    }
    var control = scope ? scope.querySelectorAll(CONTROLS)[place.index] : null;
    if (control) { control.focus({preventScroll: true}); }
  }

  /* Live updates: the server says "changed"; the list is fetched again and swapped in,
     unless someone is typing in it or has a form open there (then once they are done). */
  function liveList() {
    var list = document.getElementById("alert-list");
    if (!list || !window.EventSource || !window.htmx) { return; }
    var pending = false;
    /* Where the focus is when a fresh list arrives, just before it is swapped in: not when it
       was asked for, since the keyboard may have moved on while the answer was on its way. */
    var place = null;
    var busy;
    document.body.addEventListener("htmx:beforeSwap", function (evt) {
      var current = document.getElementById("alert-list");
      if (!current || evt.detail.target !== current) { return; }
      if (busy()) {  /* a form opened, or typing began, while the answer was on its way */
        evt.detail.shouldSwap = false;
        pending = true;
        document.body.setAttribute("data-pending", "true");
        place = null;
        return;
      }
      place = focusPlace(current);
    });
    busy = function () {
      var current = document.getElementById("alert-list");
      if (!current) { return false; }
      var active = document.activeElement;
      var typing = active && current.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
      return typing || current.querySelector("details[open]") !== null;
    };
    var refresh = function () {
      var current = document.getElementById("alert-list");
      if (!current) { return; }
      if (busy()) {
        pending = true;
        document.body.setAttribute("data-pending", "true");
        return;
      }
      pending = false;
      document.body.removeAttribute("data-pending");
      window.htmx.ajax("GET", current.getAttribute("data-live"),
                       {target: "#alert-list", swap: "outerHTML"}).then(function () {
        var fresh = document.getElementById("alert-list");
        if (fresh && fresh !== current) {  /* swapped in (not held back: see beforeSwap) */
          restoreFocus(fresh, place);
          var n = parseInt(document.body.getAttribute("data-updates") || "0", 10) + 1;
          document.body.setAttribute("data-updates", String(n));
        }
      });
    };
    var source = new EventSource("/events");
    source.addEventListener("changed", refresh);
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "open"); });
    document.addEventListener("focusout", function () { if (pending) { setTimeout(refresh, 50); } });
    document.addEventListener("toggle", function () { if (pending) { setTimeout(refresh, 50); } }, true);
    window.addEventListener("pagehide", function () { source.close(); });
  }

  /* Duration presets of the silence form: a button fills the duration field. */
  function presets() {
    document.querySelectorAll("[data-duration]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-for"));
        if (field) {
          field.value = button.getAttribute("data-duration");
          field.dispatchEvent(new Event("input", {bubbles: true}));
          field.dispatchEvent(new Event("change", {bubbles: true}));
        }
      });
    });
  }

  function start() {
    if (followAlertmanagerLink()) { return; }
    liveList();
    presets();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
