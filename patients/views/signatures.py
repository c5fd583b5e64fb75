"""The investigator's sign-off page: the signature, its history, and the way to sign."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.selectors import patient_get_for_user
from patients.signatures import (
    SIGNATURE_MEANING,
    casebook_sign,
    casebook_signature_get,
    casebook_signature_list,
    casebook_signoff_summary,
    casebook_unsigned_reasons,
    signer_description,
)
from patients.views.common import casebook_url
from sites.auth import two_factor_required
from sites.forms import OtpCodeForm
from sites.roles import can_sign_casebook


class SignForm(forms.Form):
    password = forms.CharField(label=gettext_lazy("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    otp_code = OtpCodeForm.base_fields["otp_code"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not two_factor_required():
            del self.fields["otp_code"]


@login_required
def casebook_sign_view(request, study_id: str):
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    form = SignForm(request.POST or None)
    may_sign = can_sign_casebook(request.user)
    if request.method == "POST":
        if not may_sign:
            raise PermissionDenied
        if form.is_valid():
            try:
                casebook_sign(user=request.user, patient=patient, password=form.cleaned_data["password"],
                              otp_code=form.cleaned_data.get("otp_code", ""))
            except ValidationError as error:
                form.add_error(None, error)  # a wrong password or code on its field, the rest above the form
            else:
                messages.success(request, _("The casebook is signed."))
                return redirect("data_management:sign", study_id=patient.study_id)
    signature = casebook_signature_get(patient=patient)
    summary = casebook_signoff_summary(user=request.user, patient=patient)
    return render(request, "data_management/sign.html", {
        "patient": patient,
        "summary": summary,
        "unresolved_total": sum(form.unresolved_queries for form in summary),
        "signer": signer_description(signature.signer if signature else request.user),
        "form": form,
        "may_sign": may_sign,
        "meaning": SIGNATURE_MEANING,
        "signature": signature,
        "signatures": casebook_signature_list(patient=patient),
        "unsigned_reasons": casebook_unsigned_reasons(patient=patient),
        "casebook_url": casebook_url(patient.study_id),
    })
