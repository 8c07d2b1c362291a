"""Server-rendered pages for staff: what runs exist and how each one went."""

import json

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from realtime_runs.engine import waits
from realtime_runs.models import Run, RunStatus, WaitToken, WaitTokenStatus
from realtime_runs.registry import all_tasks


def home(request):
    return render(request, "dashboard/home.html", {"tasks": all_tasks()})


@staff_member_required
def run_list(request):
    runs = Run.objects.all()
    status = request.GET.get("status", "")
    task = request.GET.get("task", "")
    tag = request.GET.get("tag", "")
    if status in RunStatus.values:
        runs = runs.filter(status=status)
    if task:
        runs = runs.filter(task_identifier=task)
    if tag:
        runs = runs.with_tag(tag)
    return render(
        request,
        "dashboard/run_list.html",
        {
            "runs": runs[:100],
            "statuses": RunStatus.values,
            "tasks": all_tasks(),
            "status": status,
            "task": task,
            "tag": tag,
        },
    )


@staff_member_required
def run_detail(request, run_id):
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"No run with the id {run_id!r}.")
    return render(
        request,
        "dashboard/run_detail.html",
        {
            "run": run,
            "run_json": json.dumps(run.to_dict(), indent=2),
        },
    )


@staff_member_required
def approvals(request):
    """The approval inbox: wait tokens that runs are waiting on, and the latest decisions."""
    waiting = WaitToken.objects.waiting().prefetch_related("waiters").order_by("created_at")[:200]
    decided = (
        WaitToken.objects.exclude(status=WaitTokenStatus.WAITING)
        .select_related("completed_by_user", "completed_by_key")
        .order_by("-completed_at")[:50]
    )
    return render(request, "dashboard/approvals.html", {"waiting": waiting, "decided": decided})


@staff_member_required
@require_POST
def decide(request, token_id):
    """Approve or reject: complete the wait token with ``{"approved": …}``."""
    approved = request.POST.get("decision") == "approve"
    _, already = waits.complete_token(
        token_id, {"approved": approved, "by": request.user.get_username()}, user=request.user
    )
    if already:
        messages.warning(request, f"{token_id} was already decided; nothing changed.")
    else:
        messages.success(request, f"{'Approved' if approved else 'Rejected'} {token_id}.")
    return redirect("dashboard:approvals")
