"""Browser forms of response assessments, adverse events, VOD/SOS and follow-up."""

from __future__ import annotations

from django import forms
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from outcomes.ctcae import GRADES, NOT_APPLICABLE_GRADE
from outcomes.models import (
    AdverseEvent,
    CtcaeTerm,
    FollowUp,
    MrdStatus,
    ResponseAssessment,
    VitalStatus,
    VodSosEvent,
)
from patients.forms import CRFForm


class ResponseForm(CRFForm):
    conditional = {"mrd_method": (("mrd_status", (MrdStatus.NEGATIVE, MrdStatus.POSITIVE)),)}

    class Meta(CRFForm.Meta):
        model = ResponseAssessment
        fields = ["assessment_date", "marrow_blasts_pct", "response", "mrd_status", "mrd_method"]
        widgets = {"mrd_status": forms.RadioSelect, "mrd_method": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("mrd_status", "mrd_method"):
            self.fields[name].choices = [choice for choice in self.fields[name].choices if choice[0]]


def chosen_term_text(term: CtcaeTerm | None) -> str:
    if term is None:
        return ""
    return _("%(term)s · %(soc)s · MedDRA %(code)s") % {"term": term.term, "soc": term.soc, "code": term.meddra_code}


class CtcaeTermPicker(forms.Widget):
    """The CTCAE v5.0 term as a combobox (the ARIA pattern: a text input, a list of options,
    arrows, Enter and Escape): static/js/ctcae.js searches the terms on the server as the user
    types; the chosen term's MedDRA code is what the form posts."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        input_id = attrs.pop("id", f"id_{name}")
        term = CtcaeTerm.objects.filter(pk=str(value)).first() if value else None
        extra = format_html_join(" ", '{}="{}"', ((key, val) for key, val in attrs.items() if val not in (None, False)))
        return format_html(
            '<div class="ctcae-picker" data-search-url="{url}" data-other-specify="{other}" '
            'data-not-applicable="{na}" data-no-match="{no_match}" data-found="{found}">'
            '<input type="text" id="{id}" role="combobox" aria-autocomplete="list" aria-expanded="false" '
            'aria-controls="{id}_listbox" autocomplete="off" spellcheck="false" name="{name}_text" value="{text}" '
            'placeholder="{placeholder}" {extra}>'
            '<input type="hidden" name="{name}" value="{code}">'
            '<ul role="listbox" id="{id}_listbox" class="ctcae-options" aria-label="{list_label}" hidden></ul>'
            '<p class="ctcae-chosen" id="{id}_chosen">{chosen}</p>'
            '<p class="visually-hidden" role="status" data-picker-status></p></div>',
            url=reverse("outcomes:ctcae-search"), other="true" if term and term.other_specify else "false",
            na=_("not defined for this term in CTCAE v5.0"), no_match=_("No CTCAE term matches."),
            found=_("Terms found: %(count)s. Arrow keys to move, Enter to choose."),
            id=input_id, text=term.term if term else (value or ""),
            placeholder=_("Type a few letters, e.g. febr"), extra=extra, name=name, code=term.pk if term else "",
            list_label=_("CTCAE v5 terms"), chosen=chosen_term_text(term),
        )

    def value_from_datadict(self, data, files, name):
        """The chosen term's code; without one (no script ran, or the term was typed in full
        and not chosen from the list), the term or MedDRA code typed, when it names one."""
        if data.get(name):
            return data[name]
        typed = " ".join(str(data.get(f"{name}_text", "")).split())
        if not typed:
            return None
        term = CtcaeTerm.objects.filter(Q(term__iexact=typed) | Q(meddra_code=typed)).first()
        return term.pk if term else typed


class CtcaeGradeSelect(forms.RadioSelect):
    """The grade radios, each beside what CTCAE v5.0 says the grade is for the chosen term
    (`term`; static/js/ctcae.js rewrites them when another term is chosen)."""

    term: CtcaeTerm | None = None

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        base_id = attrs.pop("id", f"id_{name}")
        chosen = str(value) if value not in (None, "") else ""
        rows = []
        for index, grade in enumerate(GRADES):
            description = self.term.grade_description(grade) if self.term else ""
            not_defined = description == NOT_APPLICABLE_GRADE
            rows.append(format_html(
                '<div class="grade-option"><label for="{id}_{i}"><input type="radio" name="{name}" value="{grade}" '
                'id="{id}_{i}" aria-describedby="{id}_{i}_description"{checked}> <strong>{grade}</strong></label>'
                '<span class="grade-desc{na_class}" id="{id}_{i}_description" data-grade="{grade}">{text}</span></div>',
                id=base_id, i=index, name=name, grade=grade, checked=" checked" if chosen == str(grade) else "",
                na_class=" grade-na" if not_defined else "",
                text=_("not defined for this term in CTCAE v5.0") if not_defined else description,
            ))
        return format_html('<div class="ctcae-grades">{}</div>', format_html_join("", "{}", ((row,) for row in rows)))


class AdverseEventForm(CRFForm):
    class Meta(CRFForm.Meta):
        model = AdverseEvent
        fields = ["ctcae_term", "other_specify", "grade", "onset_date", "resolution_date", "serious", "relation"]
        widgets = {"ctcae_term": CtcaeTermPicker, "grade": CtcaeGradeSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        code = (self.fields["ctcae_term"].widget.value_from_datadict(self.data, self.files, self.add_prefix("ctcae_term"))
                if self.is_bound else self.instance.ctcae_term_id)
        self.term = CtcaeTerm.objects.filter(pk=code).first() if code else None
        self.fields["grade"].widget.term = self.term
        self.fields["grade"].widget.choices = [(grade, str(grade)) for grade in GRADES]

    def clean(self):
        cleaned = super().clean()
        term = cleaned.get("ctcae_term")
        if term is not None and not term.other_specify:
            cleaned["other_specify"] = ""  # hidden for this term: what was typed for another term goes
        return cleaned


class VodForm(CRFForm):
    class Meta(CRFForm.Meta):
        model = VodSosEvent
        fields = ["diagnosis_date", "criteria", "severity", "setting", "defibrotide", "outcome"]
        widgets = {"setting": forms.RadioSelect, "outcome": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("setting", "outcome"):
            self.fields[name].choices = [choice for choice in self.fields[name].choices if choice[0]]


class FollowUpForm(CRFForm):
    conditional = {
        "relapse_date": (("relapsed", ("true",)),),
        "death_date": (("vital_status", (VitalStatus.DEAD,)),),
        "death_cause": (("vital_status", (VitalStatus.DEAD,)),),
    }

    class Meta(CRFForm.Meta):
        model = FollowUp
        fields = ["relapsed", "relapse_date", "vital_status", "death_date", "death_cause", "last_contact_date"]
        widgets = {"vital_status": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["vital_status"].choices = [choice for choice in self.fields["vital_status"].choices if choice[0]]
