"""Reports, CSV imports and workspace exports: start with a POST (202), follow, then download."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiRequest, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import permissions, workflows
from tasks_app.api.errors import service_errors_as_400
from tasks_app.api.schema import XLSX, conflict, file_download
from tasks_app.api.serializers import (
    ImportUploadSerializer,
    ReportRequestSerializer,
    ReportSerializer,
    StartedSerializer,
    TaskImportSerializer,
    WorkspaceExportSerializer,
)
from tasks_app.models import Report, TaskImport, WorkspaceExport
from tasks_app.shortcuts import file_response, own_or_permitted, visible_or_404


def started(row, route: str, created: bool = True, already: str = "") -> Response:
    """202 with the new row and its job; 200 with the row and job already doing the same work."""
    body = {"id": row.pk, "job_id": row.job_id, "status_url": reverse(route, args=[row.pk]), "created": created}
    if not created:
        return Response({**body, "detail": already}, status=status.HTTP_200_OK)
    return Response(body, status=status.HTTP_202_ACCEPTED)


def download(row, what: str):
    """The file, or 409 while it is not ready."""
    response = file_response(row)
    if response is None:
        return Response({"detail": f"The {what} is {row.status}, not ready."}, status=status.HTTP_409_CONFLICT)
    return response


@extend_schema(methods=["GET"], responses=ReportSerializer(many=True))
@extend_schema(
    methods=["POST"], request=ReportRequestSerializer, responses={202: StartedSerializer, 200: StartedSerializer}
)
@api_view(["GET", "POST"])
def report_list(request: Request) -> Response:
    """GET: your reports. POST: ask for a report; it is built in the background (202). The same
    report (same choices) asked for again while one is waiting or building: that one (200)."""
    if request.method == "GET":
        rows = Report.objects.filter(owner=request.user)[:100]
        return Response(ReportSerializer(rows, many=True).data)
    given = ReportRequestSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    with service_errors_as_400():
        report, created = workflows.report_start(
            owner=request.user,
            format=data["format"],
            task_status=data.get("status", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
    return started(report, "api-report-detail", created, f"Already building: report {report.pk} has the same choices.")


@extend_schema(responses=ReportSerializer)
@api_view(["GET"])
def report_detail(request: Request, pk: int) -> Response:
    return Response(ReportSerializer(visible_or_404(Report, request.user, pk)).data)


@extend_schema(responses=file_download("text/csv", XLSX, "application/pdf"))
@api_view(["GET"])
def report_download(request: Request, pk: int):
    return download(visible_or_404(Report, request.user, pk), "report")


@extend_schema(request=None, responses={200: ReportSerializer, 409: conflict("The report has already finished.")})
@api_view(["POST"])
def report_cancel(request: Request, pk: int) -> Response:
    """Cancel a waiting or running report."""
    report = visible_or_404(Report, request.user, pk)
    own_or_permitted(request.user, report, permissions.MANAGE_JOBS)
    if not workflows.report_cancel(report):
        return Response({"detail": f"The report is {report.status}: too late to cancel."}, status=409)
    report.refresh_from_db()
    return Response(ReportSerializer(report).data)


@extend_schema(
    request={
        "multipart/form-data": OpenApiRequest(
            ImportUploadSerializer, encoding={"file": {"contentType": f"text/csv, {XLSX}"}}
        )
    },
    responses={202: StartedSerializer, 200: StartedSerializer},
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def import_create(request: Request) -> Response:
    """Upload a CSV or XLSX file of tasks (what it may hold: the `file` field): 202. The same file
    uploaded again while its import is in progress, or in the 10 minutes after: that import (200)."""
    given = ImportUploadSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    with service_errors_as_400():
        task_import, created = workflows.import_start(
            owner=request.user, uploaded=given.validated_data["file"], date_order=given.validated_data["date_order"]
        )
    already = f"Already imported: import {task_import.pk} has the same file ({task_import.status})."
    return started(task_import, "api-import-detail", created, already)


@extend_schema(responses=TaskImportSerializer)
@api_view(["GET"])
def import_detail(request: Request, pk: int) -> Response:
    return Response(TaskImportSerializer(visible_or_404(TaskImport, request.user, pk)).data)


@extend_schema(request=None, responses={202: StartedSerializer, 200: StartedSerializer})
@api_view(["POST"])
def export_create(request: Request) -> Response:
    """Export your tasks, notifications and reports metadata as one zip (parts built in parallel).
    Asked again while yours is being prepared: that one (200)."""
    with service_errors_as_400():
        export, created = workflows.export_start(owner=request.user)
    return started(export, "api-export-detail", created, f"Already preparing: export {export.pk} ({export.status}).")


@extend_schema(responses=WorkspaceExportSerializer)
@api_view(["GET"])
def export_detail(request: Request, pk: int) -> Response:
    return Response(WorkspaceExportSerializer(visible_or_404(WorkspaceExport, request.user, pk)).data)


@extend_schema(responses=file_download("application/zip"))
@api_view(["GET"])
def export_download(request: Request, pk: int):
    return download(visible_or_404(WorkspaceExport, request.user, pk), "export")
