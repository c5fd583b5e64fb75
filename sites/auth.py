"""Two-factor sign-in (TOTP, django-otp) and the confirmation of a user's credentials.

Whether the second factor is required is the setting TWO_FACTOR_REQUIRED (on in production,
for every role). The password and code checks of every path (sign-in, API token, electronic
signature) are the functions below."""

from __future__ import annotations

import base64

import segno
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

TOTP_DEVICE_NAME = "Authenticator app"


def two_factor_required() -> bool:
    return settings.TWO_FACTOR_REQUIRED


def two_factor_enrolled(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def otp_code_verify(*, user, otp_code: str) -> TOTPDevice | None:
    """The user's confirmed device that accepts this code now, or None. Each device throttles
    its failures (django-otp) and never accepts the same code twice."""
    code = (otp_code or "").strip().replace(" ", "")
    if not code.isdigit():
        return None
    return match_token(user, code)


def credentials_confirm(*, user, password: str, otp_code: str = "") -> None:
    """Checks the user's password again and, when two-factor sign-in is required, the current
    code of their authenticator; raises ValidationError on the field that is wrong."""
    if not password or not user.check_password(password):
        raise ValidationError({"password": _("The password is not correct.")})
    if two_factor_required() and otp_code_verify(user=user, otp_code=otp_code) is None:
        raise ValidationError({"otp_code": _("The code is not correct or has expired.")})


def totp_enrolment_device(*, user) -> TOTPDevice:
    """The user's device being set up (not confirmed yet): the same one until confirmed, so
    reloading the page does not change the QR code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def totp_enrolment_confirm(*, device: TOTPDevice, otp_code: str) -> bool:
    """Confirms the device when the code is its current one: from then on it is the user's
    second factor (their other devices are removed: one authenticator per user)."""
    code = (otp_code or "").strip().replace(" ", "")
    if not code.isdigit() or not device.verify_token(code):
        return False
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def totp_qr_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as a QR code, an SVG data: URI drawn here (no CDN, no script)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret in the form authenticator apps take when typed instead of scanned."""
    return base64.b32encode(device.bin_key).decode()
