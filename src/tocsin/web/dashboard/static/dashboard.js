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

  /* Live updates: the server says "changed"; the list is fetched again and swapped in,
     unless someone is typing in it or has a form open there (then once they are done). */
  function liveList() {
    var list = document.getElementById("alert-list");
    if (!list || !window.EventSource || !window.htmx) { return; }
    var pending = false;
    var busy = function () {
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
        if (fresh) {
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
