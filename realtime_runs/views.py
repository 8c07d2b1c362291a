"""A plain page that shows how to follow a run with realtime.js (not the staff dashboard)."""

from django.shortcuts import render


def example(request):
    """Follow one run live: ``/realtime/example/?run=<run id>&token=<public access token>``.

    The token is only read here to show the idea; a real page renders a token it minted for the
    user (``auth.create_public_token``) into the page, rather than taking one from the URL.
    """
    context = {"run_id": request.GET.get("run", ""), "token": request.GET.get("token", "")}
    return render(request, "realtime_runs/example.html", context)
