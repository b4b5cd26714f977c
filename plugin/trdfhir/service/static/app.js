/* trd-fhir SMART app: the write-back button (progressive enhancement of a plain form POST).
   Renders the JSON answer with textContent only: nothing from the server becomes markup. */
(function () {
  "use strict";

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function refs(title, items) {
    var box = document.createDocumentFragment();
    if (!items || !items.length) return box;
    var details = el("details", null, "refs");
    var counts = {};
    items.forEach(function (ref) {
      var type = String(ref).split("/")[0];
      counts[type] = (counts[type] || 0) + 1;
    });
    var parts = Object.keys(counts).sort().map(function (type) {
      return counts[type] + " " + type;
    });
    details.appendChild(el("summary", title + ": " + parts.join(", ")));
    var list = el("ul", null, "refs");
    items.forEach(function (ref) {
      var li = el("li");
      li.appendChild(el("code", ref));
      list.appendChild(li);
    });
    details.appendChild(list);
    box.appendChild(details);
    return box;
  }

  function render(out, body, status) {
    while (out.firstChild) out.removeChild(out.firstChild);
    var ok = body && body.ok === true;
    out.className = "result " + (ok ? "done" : "failed");
    var message = (body && body.message) || ("The write failed (HTTP " + status + ").");
    out.appendChild(el("p", message, ok ? "ok" : "error"));
    if (body) {
      out.appendChild(refs("Created", body.created));
      out.appendChild(refs("Updated", body.updated));
      out.appendChild(refs("Already on the record", body.unchanged));
    }
  }

  function init() {
    var form = document.getElementById("writeback-form");
    var button = document.getElementById("writeback-button");
    var out = document.getElementById("writeback-result");
    if (!form || !button || !out || !window.fetch) return;
    var label = button.textContent;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) return;
      button.disabled = true;
      button.textContent = "Writing\u2026";
      out.className = "result pending";
      out.textContent = "Writing to the record\u2026";
      var status = 0;
      fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": form.elements.csrf_token.value
        },
        body: JSON.stringify({ as_of: form.elements.as_of.value })
      })
        .then(function (response) {
          status = response.status;
          return response.json().catch(function () { return null; });
        })
        .then(function (body) {
          render(out, body, status);
          // written: "To be written" no longer describes the record
          var todo = document.getElementById("writeback-todo");
          if (todo && body && body.ok === true) todo.parentNode.removeChild(todo);
        })
        .catch(function () {
          render(out, { ok: false, message: "The write failed: the app did not answer." }, 0);
        })
        .then(function () {
          button.disabled = false;
          button.textContent = label;
          form.setAttribute("data-state", out.className.indexOf("done") >= 0 ? "done" : "failed");
        });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
