"""Pages for reports, imports (CSV or XLSX) and workspace exports. The work runs in jobs; pages follow it."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tasks_app import permissions, workflows
from tasks_app.models import JobRun, Report, TaskImport, WorkspaceExport
from tasks_app.queue import pause
from tasks_app.services import imports
from tasks_app.shortcuts import file_response, own_or_permitted, visible_or_404
from tasks_app.web.forms import ImportForm, ReportForm, add_service_errors
from tasks_app.workflows.files import TooMuchInProgress


def _download(row) -> FileResponse:
    response = file_response(row)
    if response is None:
        raise Http404("Not ready.")
    return response


def _status_of(error: ValidationError) -> int:
    """The page's status when a start was refused: 429 past the per-person limit, else 200 (the form again)."""
    return 429 if isinstance(error, TooMuchInProgress) else 200


def report_list(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST) if request.method == "POST" else ReportForm()
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report, created = workflows.report_start(
                owner=request.user,
                format=data["format"],
                task_status=data["status"],
                date_from=data["date_from"],
                date_to=data["date_to"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
            status = _status_of(error)
        else:
            if created:
                messages.success(request, "Your report is being built; this page follows its progress.")
            else:
                messages.info(request, f"Already building: report #{report.pk} has the same choices.")
            return redirect("files:report-list")
    rows = list(Report.objects.filter(owner=request.user)[:50])
    runs = JobRun.objects.in_bulk([r.job_id for r in rows if r.job_id])
    context = {"form": form, "reports": [(r, runs.get(r.job_id)) for r in rows], "paused_jobs": pause.paused_names()}
    return render(request, "tasks_app/files/report_list.html", context, status=status)


def report_download(request: HttpRequest, pk: int) -> FileResponse:
    return _download(visible_or_404(Report, request.user, pk))


@require_POST
def report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    report = visible_or_404(Report, request.user, pk)
    own_or_permitted(request.user, report, permissions.MANAGE_JOBS)
    if workflows.report_cancel(report):
        messages.success(request, f"Canceled report #{report.pk}.")
    else:
        messages.error(request, f"Report #{report.pk} has already finished.")
    return redirect("files:report-list")


def import_list(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            task_import, created = workflows.import_start(
                owner=request.user, uploaded=form.cleaned_data["file"], date_order=form.cleaned_data["date_order"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
            status = _status_of(error)
        else:
            if not created:
                messages.info(
                    request, f"You already uploaded this file: import #{task_import.pk}, {task_import.status}."
                )
            return redirect("files:import-detail", pk=task_import.pk)
    context = {
        "form": form,
        "imports": TaskImport.objects.filter(owner=request.user)[:50],
        "statuses": imports.accepted("status"),
        "priorities": imports.accepted("priority"),
    }
    return render(request, "tasks_app/files/import_list.html", context, status=status)


def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task_import = visible_or_404(TaskImport, request.user, pk)
    run = JobRun.objects.filter(pk=task_import.job_id).first()
    context = {"task_import": task_import, "run": run, "paused_jobs": pause.paused_names()}
    return render(request, "tasks_app/files/import_detail.html", context)


@require_POST
def import_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove the tasks an import made; only its owner may (the tasks are theirs)."""
    task_import = get_object_or_404(TaskImport, pk=pk, owner=request.user)
    if task_import.undone_at is not None:
        messages.info(request, f"Import #{task_import.pk} was undone already.")
    else:
        removed = imports.import_undo(task_import)
        messages.success(
            request, f"Undone: removed the {removed} task{'s' if removed != 1 else ''} import #{task_import.pk} made."
        )
    return redirect("files:import-detail", pk=task_import.pk)


def export_list(request: HttpRequest) -> HttpResponse:
    refused = None
    if request.method == "POST":
        try:
            export, created = workflows.export_start(owner=request.user)
        except TooMuchInProgress as error:
            refused = error.messages[0]
        else:
            if created:
                messages.success(request, "Your export is being prepared.")
            else:
                messages.info(request, f"Your export #{export.pk} is already being prepared.")
            return redirect("files:export-list")
    exports_ = WorkspaceExport.objects.filter(owner=request.user)[:50]
    context = {"exports": exports_, "refused": refused}
    return render(request, "tasks_app/files/export_list.html", context, status=429 if refused else 200)


def export_download(request: HttpRequest, pk: int) -> FileResponse:
    return _download(visible_or_404(WorkspaceExport, request.user, pk))
