"""Reports, CSV imports and workspace exports: start with a POST (202), follow, then download."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import jobs, queue
from tasks_app.models import JobRun, Report, TaskImport, WorkspaceExport
from tasks_app.services import imports, reports


def owned(model, request: Request, pk: int):
    """The row if the requester owns it or is staff; 404 otherwise."""
    return get_object_or_404(model.objects.visible_to(request.user), pk=pk)


def progress(job_id: str) -> dict:
    run = JobRun.objects.filter(pk=job_id).first() if job_id else None
    if run is None:
        return {"current": None, "total": None, "percent": None}
    return {"current": run.progress_current, "total": run.progress_total, "percent": run.progress_percent}


def started(row, route: str) -> Response:
    body = {"id": row.pk, "job_id": row.job_id, "status_url": reverse(route, args=[row.pk])}
    return Response(body, status=status.HTTP_202_ACCEPTED)


class StartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job_id = serializers.CharField()
    status_url = serializers.CharField()


class ReportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Report.Format.choices)
    status = serializers.CharField(required=False, allow_blank=True)
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)


class ReportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    status_filter = serializers.CharField(source="task_status")

    class Meta:
        model = Report
        fields = ["id", "format", "status", "progress", "download_url", "job_id", "error", "rows"]
        fields += ["status_filter", "date_from", "date_to", "created_at", "finished_at"]

    def get_progress(self, report: Report) -> dict:
        if report.status == Report.Status.SUCCEEDED:  # the job's last progress write may still be buffered
            return {"current": report.rows, "total": report.rows, "percent": 100}
        return progress(report.job_id)

    def get_download_url(self, report: Report) -> str | None:
        if report.status != Report.Status.SUCCEEDED:
            return None
        return reverse("api-report-download", args=[report.pk])


@extend_schema(request=ReportRequestSerializer, responses={202: StartedSerializer, 200: ReportSerializer(many=True)})
@api_view(["GET", "POST"])
def report_list(request: Request) -> Response:
    """GET: your reports. POST: ask for a report; it is built in the background."""
    if request.method == "GET":
        rows = Report.objects.filter(owner=request.user)[:100]
        return Response(ReportSerializer(rows, many=True).data)
    given = ReportRequestSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    with transaction.atomic():
        try:
            report = reports.report_request(
                owner=request.user,
                format=data["format"],
                task_status=data.get("status", ""),
                date_from=data.get("date_from"),
                date_to=data.get("date_to"),
            )
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        report.job_id = queue.enqueue_on_commit(jobs.report_build, report.pk, user=request.user)
        report.save(update_fields=["job_id"])
    return started(report, "api-report-detail")


@extend_schema(responses=ReportSerializer)
@api_view(["GET"])
def report_detail(request: Request, pk: int) -> Response:
    return Response(ReportSerializer(owned(Report, request, pk)).data)


@extend_schema(responses={(200, "application/octet-stream"): bytes})
@api_view(["GET"])
def report_download(request: Request, pk: int):
    report = owned(Report, request, pk)
    if report.status != Report.Status.SUCCEEDED or not report.file:
        return Response({"detail": f"The report is {report.status}, not ready."}, status=status.HTTP_409_CONFLICT)
    return FileResponse(report.file.open("rb"), as_attachment=True, filename=report.file.name.rsplit("/", 1)[-1])


@extend_schema(request=None, responses={200: ReportSerializer, 409: None})
@api_view(["POST"])
def report_cancel(request: Request, pk: int) -> Response:
    """Cancel a waiting or running report."""
    report = owned(Report, request, pk)
    if not reports.report_cancel(report):
        return Response({"detail": f"The report is {report.status}: too late to cancel."}, status=409)
    run = JobRun.objects.filter(pk=report.job_id).first()
    if run is not None:
        queue.cancel(run)  # still waiting: never start it; running: it stops at its next check
    report.refresh_from_db()
    return Response(ReportSerializer(report).data)


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()


class TaskImportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = TaskImport
        fields = ["id", "status", "created", "failed", "errors", "error", "progress", "job_id"]
        fields += ["created_at", "finished_at"]

    def get_progress(self, task_import: TaskImport) -> dict:
        return progress(task_import.job_id)


@extend_schema(request={"multipart/form-data": ImportUploadSerializer}, responses={202: StartedSerializer})
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def import_create(request: Request) -> Response:
    """Upload a CSV of tasks (header: title, description, status, priority, due_date)."""
    given = ImportUploadSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    with transaction.atomic():
        try:
            task_import = imports.import_create(owner=request.user, uploaded=given.validated_data["file"])
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        pipeline = jobs.import_pipeline(task_import.pk, request.user.pk)
        task_import.job_id = pipeline.id  # the import itself; its steps follow
        task_import.save(update_fields=["job_id"])
        queue.enqueue_message_on_commit(pipeline, user=request.user)
    return started(task_import, "api-import-detail")


@extend_schema(responses=TaskImportSerializer)
@api_view(["GET"])
def import_detail(request: Request, pk: int) -> Response:
    return Response(TaskImportSerializer(owned(TaskImport, request, pk)).data)


class WorkspaceExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = WorkspaceExport
        fields = ["id", "status", "download_url", "job_id", "error", "created_at", "finished_at"]

    def get_download_url(self, export: WorkspaceExport) -> str | None:
        if export.status != WorkspaceExport.Status.SUCCEEDED:
            return None
        return reverse("api-export-download", args=[export.pk])


@extend_schema(request=None, responses={202: StartedSerializer})
@api_view(["POST"])
def export_create(request: Request) -> Response:
    """Export your tasks, notifications and reports metadata as one zip (parts built in parallel)."""
    with transaction.atomic():
        export = WorkspaceExport.objects.create(owner=request.user)
        export.job_id = queue.enqueue_message_on_commit(jobs.export_chord(export.pk), user=request.user)
        export.save(update_fields=["job_id"])
    return started(export, "api-export-detail")


@extend_schema(responses=WorkspaceExportSerializer)
@api_view(["GET"])
def export_detail(request: Request, pk: int) -> Response:
    return Response(WorkspaceExportSerializer(owned(WorkspaceExport, request, pk)).data)


@extend_schema(responses={(200, "application/zip"): bytes})
@api_view(["GET"])
def export_download(request: Request, pk: int):
    export = owned(WorkspaceExport, request, pk)
    if export.status != WorkspaceExport.Status.SUCCEEDED or not export.file:
        return Response({"detail": f"The export is {export.status}, not ready."}, status=status.HTTP_409_CONFLICT)
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=export.file.name.rsplit("/", 1)[-1])
