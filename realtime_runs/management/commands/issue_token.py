from django.core.management.base import BaseCommand, CommandError

from realtime_runs import tokens
from realtime_runs.errors import RunsError


class Command(BaseCommand):
    help = "Issue a public access token and print it alone on stdout."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            dest="scopes",
            help="a scope such as read:runs:run_x (repeatable)",
        )
        parser.add_argument("--expires", default=None, help="lifetime, e.g. 15m, 1h (15m)")
        parser.add_argument("--one-time", action="store_true", help="usable once")
        parser.add_argument("--label", default="", help="a note for the token list")

    def handle(self, *args, scopes, expires, one_time, label, **options):
        try:
            token = tokens.create_token(
                scopes, expiration_time=expires, one_time=one_time, label=label or "issue_token"
            )
        except RunsError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(token)
