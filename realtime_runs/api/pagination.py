"""Cursor paging as Trigger.dev's lists do it: ``page[size]`` and ``page[after]=<last id>``."""

from django.db.models import Q

from realtime_runs.errors import InvalidInput

PARAMS = {"page[size]", "page[after]"}


def cursor_page(queryset, params, noun):
    """One page of ``queryset`` (newest first) and the cursor of the next page, or None."""
    size = params.get("page[size]", "25")
    if not size.isdigit() or not 1 <= int(size) <= 100:
        raise InvalidInput({"page[size]": "must be a whole number from 1 to 100"})
    size = int(size)
    if after := params.get("page[after]"):
        cursor = queryset.model.objects.filter(pk=after).values("created_at").first()
        if cursor is None:
            raise InvalidInput({"page[after]": f"{after!r} is not {noun} id of this list"})
        queryset = queryset.filter(
            Q(created_at__lt=cursor["created_at"])
            | Q(created_at=cursor["created_at"], id__lt=after)
        )
    page = list(queryset.order_by("-created_at", "-id")[: size + 1])
    return page[:size], (page[size - 1].id if len(page) > size else None)
