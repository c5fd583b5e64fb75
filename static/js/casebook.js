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

  /* Dates: the text input takes the day in the language's format (data-date-format, as
     strftime writes it); the calendar button opens the browser's own date picker and writes
     the chosen day back in that format. */
  function parseDate(text, format) {
    var order = [];
    var pattern = format.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&").replace(/%([dmY])/g, function (_, part) {
      order.push(part);
      return part === "Y" ? "(\\d{4})" : "(\\d{1,2})";
    });
    var match = new RegExp("^" + pattern + "$").exec(text.trim());
    if (!match) return "";
    var parts = {};
    order.forEach(function (part, i) { parts[part] = match[i + 1]; });
    function two(value) { return value.length === 1 ? "0" + value : value; }
    return parts.Y + "-" + two(parts.m) + "-" + two(parts.d);
  }

  function formatDate(iso, format) {
    var parts = iso.split("-");
    return format.replace("%Y", parts[0]).replace("%m", parts[1]).replace("%d", parts[2]);
  }

  function setupDatePicker(button) {
    var text = document.getElementById(button.getAttribute("data-date-for"));
    var picker = button.parentNode.querySelector(".date-picker");
    if (!text || !picker || typeof picker.showPicker !== "function") return;
    var format = text.getAttribute("data-date-format");
    button.hidden = false;
    button.addEventListener("click", function () {
      picker.value = parseDate(text.value, format);
      picker.showPicker();
    });
    picker.addEventListener("change", function () {
      if (!picker.value) return;
      text.value = formatDate(picker.value, format);
      text.dispatchEvent(new Event("input", { bubbles: true }));
      text.dispatchEvent(new Event("change", { bubbles: true }));
      text.focus();
    });
  }

  /* Lists that follow a choice: an element with data-refresh-on="name other" sends itself the
     "refresh" event when one of the named fields inside it changes (its hx-trigger asks the
     server for the lists then). The listener is on that element, which htmx does not replace,
     so a choice made while freshly swapped lists are still settling is not lost. */
  function setupRefresh(element) {
    var names = element.getAttribute("data-refresh-on").split(/\s+/);
    element.addEventListener("change", function (event) {
      if (names.indexOf(event.target.name) !== -1 && window.htmx) window.htmx.trigger(element, "refresh");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".date-picker-button").forEach(setupDatePicker);
    document.querySelectorAll("[data-refresh-on]").forEach(setupRefresh);
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
