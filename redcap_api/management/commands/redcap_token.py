"""manage.py redcap_token USERNAME: makes the user's REDCap token (replacing the one they
had) and prints it as the last line, for scripts."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from sites.models import ApiTokenKind
from sites.services import api_token_create


class Command(BaseCommand):
    help = "Make a user's REDCap API token (32 hexadecimal digits; replaces their earlier one) and print it."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        token, secret = api_token_create(user=user, kind=ApiTokenKind.REDCAP)
        expires = timezone.localtime(token.expires_at).strftime("%Y-%m-%d %H:%M")
        self.stderr.write(f"REDCap API token of {username}, valid {settings.API_TOKEN_LIFETIME_DAYS} days "
                          f"(until {expires}); any earlier REDCap token of {username} is revoked.")
        self.stdout.write(secret)
