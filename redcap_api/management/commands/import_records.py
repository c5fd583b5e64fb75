"""manage.py import_records FILE --user USERNAME [--dry-run]: imports a site's file (a REDCap
flat CSV or the XLSX template) as the user would from the import page; prints every problem
and exits non-zero when there is one."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from redcap_api.site_import import FileError, file_rows, site_import


class Command(BaseCommand):
    help = "Import a site's file (REDCap flat CSV or the XLSX import template) into the casebooks, as a user."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="the coordinator (or investigator) the import is made as")
        parser.add_argument("--dry-run", action="store_true", help="check every row and write nothing")

    def handle(self, *args, file: Path, user: str, dry_run: bool, **options):
        account = get_user_model().objects.filter(username=user, is_active=True).first()
        if account is None:
            raise CommandError(f"No active user {user!r}.")
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        try:
            rows = file_rows(file_name=file.name, content=file.read_bytes())
            outcome = site_import(user=account, file_name=file.name, rows=rows, dry_run=dry_run)
        except (FileError, PermissionDenied) as error:
            raise CommandError(str(error)) from None
        for problem in outcome.problems:
            self.stdout.write(problem.line())
        written = "checked (dry run, nothing written)" if dry_run else f"imported {outcome.casebooks_written}"
        self.stderr.write(f"{file.name}: {outcome.casebooks} casebooks, {written}, "
                          f"{outcome.patients_enrolled} new patients, {len(outcome.problems)} problems.")
        if outcome.problems:
            raise CommandError(f"{len(outcome.problems)} problems: casebooks with a problem were not imported.")
