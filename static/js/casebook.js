/* Conditional questions of the case report forms: a field wrapper with
   data-show-when='[["other_field", ["value", ...]], ...]' is shown only while one of the
   named fields has one of its values. Without JavaScript every question stays visible and
   the server ignores the answers that do not apply (progressive enhancement). */
(function () {
  "use strict";

  function currentValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    if (!inputs.length) return "";
    var first = inputs[0];
    if (first.type === "checkbox") return first.checked ? "true" : "false";
    if (first.type === "radio") {
      for (var i = 0; i < inputs.length; i++) if (inputs[i].checked) return inputs[i].value.toLowerCase();
      return "";
    }
    return String(first.value).toLowerCase();
  }

  function refresh(form) {
    form.querySelectorAll("[data-show-when]").forEach(function (wrapper) {
      var conditions = JSON.parse(wrapper.getAttribute("data-show-when"));
      var applies = conditions.some(function (condition) {
        return condition[1].indexOf(currentValue(form, condition[0])) !== -1;
      });
      wrapper.hidden = !applies;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.crf").forEach(function (form) {
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("input", function () { refresh(form); });
    });
    /* Put the cursor in the first field with an error, or the first field of the form. */
    var target = document.querySelector("form.crf .has-error input, form.crf .has-error select, form.crf .has-error textarea")
      || document.querySelector("form.crf [autofocus]");
    if (target) target.focus();
  });
})();
