// Small helpers of every page. The pages work without scripts; these only add comfort.
(function () {
  "use strict";
  // Ctrl/Cmd+Enter sends a textarea's form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.tagName === "TEXTAREA") {
      var form = event.target.form;
      if (form) { event.preventDefault(); form.requestSubmit(); }
    }
  });
})();

// After htmx filled a form's error elements in place: mark the fields for assistive
// technology and move focus to the first field with a problem.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  if (!form || form.tagName !== "FORM") { return; }
  var first = null;
  form.querySelectorAll(".field").forEach(function (field) {
    var error = field.querySelector(".error");
    var control = field.querySelector("input, textarea, select");
    var bad = error && !error.hidden && error.textContent.trim() !== "";
    field.classList.toggle("invalid", !!bad);
    if (control) {
      if (bad) { control.setAttribute("aria-invalid", "true"); } else { control.removeAttribute("aria-invalid"); }
      if (bad && !first) { first = control; }
    }
  });
  if (first) { first.focus(); }
});
