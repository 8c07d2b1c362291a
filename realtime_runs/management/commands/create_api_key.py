from django.core.management.base import BaseCommand

from realtime_runs.models import ApiKey


class Command(BaseCommand):
    help = "Create a secret API key and print it alone on stdout (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="what the key is for")

    def handle(self, *args, name, **options):
        _, secret = ApiKey.objects.create_key(name=name)
        self.stdout.write(secret)
