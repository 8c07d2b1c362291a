"""Server-rendered pages for staff: what runs exist and how each one went."""

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render

from realtime_runs.models import Run, RunStatus
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
