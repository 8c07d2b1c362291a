from django.core.management.base import BaseCommand

from realtime_runs import tokens
from realtime_runs.models import SigningKey


class Command(BaseCommand):
    help = (
        "Make a new key for signing public access tokens. Older keys keep verifying the tokens "
        "they signed until retired with --retire KID (do that once those tokens have expired)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--retire", metavar="KID", help="retire this key instead")

    def handle(self, *args, retire=None, **options):
        if retire:
            tokens.retire_key(retire)
            self.stdout.write(f"retired {retire}")
        else:
            self.stdout.write(f"signing with {tokens.rotate_key().kid}")
        for key in SigningKey.objects.all():
            state = "retired" if key.retired_at else "active"
            self.stderr.write(f"  {key.kid}  {state}  created {key.created_at:%Y-%m-%d %H:%M}")
