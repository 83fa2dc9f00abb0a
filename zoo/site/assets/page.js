// A model page: copy buttons for the usage snippets (the clipboard where the browser allows
// it, else the snippet is selected so that Ctrl+C copies it).
(function () {
  "use strict";
  var status = document.getElementById("copy-status");
  function say(text) { if (status) { status.textContent = text; } }
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest("button.copy");
    if (!button) { return; }
    var el = document.getElementById(button.dataset.copy);
    if (!el) { return; }
    var done = function () {
      button.textContent = "Copied";
      say("Copied to the clipboard");
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    var fallback = function () {
      select(el);
      say("Selected: press Ctrl+C to copy");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(el.textContent).then(done, fallback);
    } else {
      fallback();
    }
  });
})();
