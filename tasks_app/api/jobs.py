"""GET /api/jobs/<id>/ and POST /api/jobs/<id>/cancel/: the state of one background job."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import permissions, queue
from tasks_app.api.schema import conflict
from tasks_app.api.serializers import JobRunSerializer
from tasks_app.models import JobRun


def accepted(job_id: str, **extra) -> Response:
    """202 Accepted for work handed to a background job, with where to follow it."""
    body = {**extra, "job_id": job_id, "status_url": reverse("api-job-detail", args=[job_id])}
    return Response(body, status=status.HTTP_202_ACCEPTED)


def already_started(job_id: str, detail: str, **extra) -> Response:
    """200 OK, no new job: the same work is in progress (or was just done) as this job."""
    body = {**extra, "job_id": job_id, "status_url": reverse("api-job-detail", args=[job_id])}
    return Response({**body, "created": False, "detail": detail}, status=status.HTTP_200_OK)


def visible_job(request: Request, job_id: str) -> JobRun:
    """The job if the requester started it or holds `view_all_jobs`; 404 otherwise (others' jobs are never shown)."""
    runs = JobRun.objects.all()
    if not request.user.has_perm(permissions.VIEW_ALL_JOBS):
        runs = runs.filter(triggered_by=request.user)
    return get_object_or_404(runs, pk=job_id)


@extend_schema(responses=JobRunSerializer)
@api_view(["GET"])
def job_detail(request: Request, job_id: str) -> Response:
    return Response(JobRunSerializer(visible_job(request, job_id)).data)


@extend_schema(request=None, responses={200: JobRunSerializer, 409: conflict("The job already runs or has finished.")})
@api_view(["POST"])
def job_cancel(request: Request, job_id: str) -> Response:
    """Revoke a pending or scheduled job; 409 when it already runs or has finished; 403 for someone else's
    job without `manage_jobs`."""
    run = visible_job(request, job_id)
    if run.triggered_by_id != request.user.pk and not request.user.has_perm(permissions.MANAGE_JOBS):
        raise PermissionDenied("Only the job's starter, or someone who may manage jobs, may cancel it.")
    if not queue.cancel(run, note=f"through the API by {request.user.get_username()}"):
        return Response(
            {"detail": f"Only a pending or scheduled job can be canceled; this one is {run.state}."},
            status=status.HTTP_409_CONFLICT,
        )
    run.refresh_from_db()
    return Response(JobRunSerializer(run).data)
