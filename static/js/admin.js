// The back office: ticking a user on the Notify page chooses "The users ticked below"
// (the server refuses "Everyone" with users ticked, rather than guess); and copy
// buttons for tokens and commands. The text is in the page
// already (selectable by hand); the clipboard API needs a secure context, so where it
// is missing or refused, the text is selected for the viewer to copy.
(function () {
  "use strict";

  function say(button, text) {
    var card = button.closest("section") || document.body;
    var status = card.querySelector(".copy-status");
    if (status) status.textContent = text;
  }

  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function fallback(button, element) {
    select(element);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    say(button, copied ? "Copied." : "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.type !== "checkbox" || box.name !== "users" || !box.checked) return;
    var chosen = box.form && box.form.querySelector('input[name="audience"][value="users"]');
    if (chosen) chosen.checked = true;
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var element = document.getElementById(button.getAttribute("data-copy"));
    if (!element) return;
    var text = element.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "Copied."); },
        function () { fallback(button, element); }
      );
    } else {
      fallback(button, element);
    }
  });
})();
