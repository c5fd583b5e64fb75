/* The CTCAE v5.0 term picker of the adverse-event form (outcomes.forms.CtcaeTermPicker): the
   ARIA combobox pattern. Typing searches the terms on the server (debounced); Down/Up move
   through the options, Enter chooses, Escape closes. The chosen term's MedDRA code goes into
   the hidden input the form posts; its grade descriptions are written beside the grade
   radios, and the specified-term question is shown only for an "Other, specify" term. */
(function () {
  "use strict";

  var DEBOUNCE_MS = 200;
  var MIN_LENGTH = 2;

  function setup(picker) {
    var input = picker.querySelector('[role="combobox"]');
    var code = picker.querySelector('input[type="hidden"]');
    var list = picker.querySelector('[role="listbox"]');
    var chosen = picker.querySelector(".ctcae-chosen");
    var status = picker.querySelector("[data-picker-status]");
    var form = picker.closest("form");
    var terms = [];
    var active = -1;
    var timer = null;
    var latest = 0;

    function otherSpecify(show) {
      var wrapper = form && form.querySelector('[data-field="other_specify"]');
      if (wrapper) wrapper.hidden = !show;
    }

    function showGrades(term) {
      if (!form) return;
      form.querySelectorAll(".grade-desc").forEach(function (span) {
        var text = term ? term.grades[span.getAttribute("data-grade")] : "";
        var notDefined = text === "-";
        span.textContent = notDefined ? picker.getAttribute("data-not-applicable") : (text || "");
        span.classList.toggle("grade-na", notDefined);
      });
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function highlight(index) {
      var options = list.querySelectorAll('[role="option"]');
      if (!options.length) return;
      active = Math.max(0, Math.min(index, options.length - 1));
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({ block: "nearest" });
    }

    function choose(index) {
      var term = terms[index];
      if (!term) return;
      code.value = term.code;
      input.value = term.term;
      chosen.textContent = term.term + " · " + term.soc + " · MedDRA " + term.code;
      showGrades(term);
      otherSpecify(term.other_specify);
      close();
      status.textContent = chosen.textContent;
    }

    function render() {
      list.textContent = "";
      terms.forEach(function (term, i) {
        var option = document.createElement("li");
        option.id = input.id + "_option_" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.appendChild(document.createTextNode(term.term));
        var soc = document.createElement("small");
        soc.textContent = term.soc;
        option.appendChild(soc);
        /* mousedown, not click: the input keeps the focus, so its blur does not close the list first */
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(i);
        });
        list.appendChild(option);
      });
      if (!terms.length) {
        var none = document.createElement("li");
        none.className = "ctcae-none";
        none.textContent = picker.getAttribute("data-no-match");
        list.appendChild(none);
        status.textContent = none.textContent;
      } else {
        status.textContent = picker.getAttribute("data-found").replace("%(count)s", terms.length);
      }
      open();
    }

    function search() {
      var query = input.value.trim();
      if (query.length < MIN_LENGTH) {
        terms = [];
        close();
        return;
      }
      var mine = ++latest;
      fetch(picker.getAttribute("data-search-url") + "?q=" + encodeURIComponent(query), {
        headers: { Accept: "application/json" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.ok ? response.json() : { terms: [] };
      }).then(function (data) {
        if (mine !== latest) return; /* an older answer, overtaken by what was typed since */
        terms = data.terms;
        active = -1;
        render();
      });
    }

    input.addEventListener("input", function () {
      /* what is typed is a search: the term is the one chosen from the list */
      code.value = "";
      chosen.textContent = "";
      showGrades(null);
      otherSpecify(false);
      clearTimeout(timer);
      timer = setTimeout(search, DEBOUNCE_MS);
    });

    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) {
          if (terms.length) open(); else return;
        }
        highlight(event.key === "ArrowDown" ? active + 1 : (active < 0 ? terms.length - 1 : active - 1));
      } else if (event.key === "Enter") {
        if (!list.hidden) {
          event.preventDefault(); /* choosing a term does not submit the form */
          if (active >= 0) choose(active);
        }
      } else if (event.key === "Escape") {
        if (!list.hidden) {
          event.preventDefault();
          close();
        }
      }
    });

    input.addEventListener("blur", close);
    otherSpecify(picker.getAttribute("data-other-specify") === "true");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".ctcae-picker").forEach(setup);
  });
})();
