"""Pages for reports, CSV imports and workspace exports. The work runs in jobs; pages follow it."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from tasks_app import jobs, queue
from tasks_app.models import JobRun, Report, Task, TaskImport, WorkspaceExport
from tasks_app.services import imports, reports


class ReportForm(forms.Form):
    format = forms.ChoiceField(choices=Report.Format.choices)
    status = forms.ChoiceField(choices=[("", "All statuses"), *Task.Status.choices], required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Created from")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Created until")


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Header: title, description, status, priority, due_date")


def _owned(model, request: HttpRequest, pk: int):
    return get_object_or_404(model.objects.visible_to(request.user), pk=pk)


def _download(row) -> FileResponse:
    if row.status != row.Status.SUCCEEDED or not row.file:
        raise Http404("Not ready.")
    return FileResponse(row.file.open("rb"), as_attachment=True, filename=row.file.name.rsplit("/", 1)[-1])


def report_list(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST) if request.method == "POST" else ReportForm()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                report = reports.report_request(
                    owner=request.user,
                    format=data["format"],
                    task_status=data["status"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                )
                report.job_id = queue.enqueue_on_commit(jobs.report_build, report.pk, user=request.user)
                report.save(update_fields=["job_id"])
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Your report is being built; this page follows its progress.")
            return redirect("files:report-list")
    rows = list(Report.objects.filter(owner=request.user)[:50])
    runs = JobRun.objects.in_bulk([r.job_id for r in rows if r.job_id])
    context = {"form": form, "reports": [(r, runs.get(r.job_id)) for r in rows]}
    return render(request, "tasks_app/files/report_list.html", context)


def report_download(request: HttpRequest, pk: int) -> FileResponse:
    return _download(_owned(Report, request, pk))


@require_POST
def report_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    report = _owned(Report, request, pk)
    if reports.report_cancel(report):
        run = JobRun.objects.filter(pk=report.job_id).first()
        if run is not None:
            queue.cancel(run)
        messages.success(request, f"Canceled report #{report.pk}.")
    else:
        messages.error(request, f"Report #{report.pk} has already finished.")
    return redirect("files:report-list")


def import_list(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                task_import = imports.import_create(owner=request.user, uploaded=form.cleaned_data["file"])
                pipeline = jobs.import_pipeline(task_import.pk, request.user.pk)
                task_import.job_id = pipeline.id
                task_import.save(update_fields=["job_id"])
                queue.enqueue_message_on_commit(pipeline, user=request.user)
        except ValidationError as error:
            form.add_error("file", error.message_dict.get("file", error.messages))
        else:
            return redirect("files:import-detail", pk=task_import.pk)
    imports_ = TaskImport.objects.filter(owner=request.user)[:50]
    return render(request, "tasks_app/files/import_list.html", {"form": form, "imports": imports_})


def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task_import = _owned(TaskImport, request, pk)
    run = JobRun.objects.filter(pk=task_import.job_id).first()
    return render(request, "tasks_app/files/import_detail.html", {"task_import": task_import, "run": run})


def export_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        with transaction.atomic():
            export = WorkspaceExport.objects.create(owner=request.user)
            export.job_id = queue.enqueue_message_on_commit(jobs.export_chord(export.pk), user=request.user)
            export.save(update_fields=["job_id"])
        messages.success(request, "Your export is being prepared.")
        return redirect("files:export-list")
    exports_ = WorkspaceExport.objects.filter(owner=request.user)[:50]
    return render(request, "tasks_app/files/export_list.html", {"exports": exports_})


def export_download(request: HttpRequest, pk: int) -> FileResponse:
    return _download(_owned(WorkspaceExport, request, pk))
