import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from outcomes.demo import demo_cohort_seed
from patients.models import Patient


class Command(BaseCommand):
    help = "Fill an empty database with the synthetic INO-CD22 demo cohort, its centers and demo users."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2025, help="random seed (same seed, same data)")
        parser.add_argument("--patients", type=int, default=73)
        parser.add_argument("--centers", type=int, default=24)
        parser.add_argument("--if-empty", action="store_true", help="do nothing if the registry already has patients")

    def handle(self, *args, seed, patients, centers, if_empty, **options):
        if if_empty and Patient.objects.exists():
            self.stdout.write(f"The registry already has {Patient.objects.count()} patients: demo not seeded.")
            return
        if patients < 1 or centers < 1:
            raise CommandError("--patients and --centers must be at least 1.")
        started = time.perf_counter()
        try:
            summary = demo_cohort_seed(seed=seed, n_patients=patients, n_centers=centers, password=settings.DEMO_PASSWORD)
        except ValueError as error:
            raise CommandError(str(error)) from error
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(
            f"Seeded {summary.patients} patients in {summary.centers} centers (seed {seed}) in {elapsed:.1f} s."
        ))
        self.stdout.write(f"Demo users (password: the DEMO_PASSWORD setting, '{settings.DEMO_PASSWORD}' by default):")
        for username in summary.users:
            self.stdout.write(f"  {username}")
