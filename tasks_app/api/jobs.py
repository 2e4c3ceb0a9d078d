"""GET /api/jobs/<id>/ and POST /api/jobs/<id>/cancel/: the state of one background job."""

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import queue
from tasks_app.api.schema import conflict
from tasks_app.api.serializers import JobRunSerializer
from tasks_app.models import JobRun


def accepted(job_id: str, **extra) -> Response:
    """202 Accepted for work handed to a background job, with where to follow it."""
    body = {**extra, "job_id": job_id, "status_url": reverse("api-job-detail", args=[job_id])}
    return Response(body, status=status.HTTP_202_ACCEPTED)


def visible_job(request: Request, job_id: str) -> JobRun:
    """The job if the requester started it or is staff; 404 otherwise (others' jobs are never shown)."""
    runs = JobRun.objects.all() if request.user.is_staff else JobRun.objects.filter(triggered_by=request.user)
    return get_object_or_404(runs, pk=job_id)


@extend_schema(responses=JobRunSerializer)
@api_view(["GET"])
def job_detail(request: Request, job_id: str) -> Response:
    return Response(JobRunSerializer(visible_job(request, job_id)).data)


@extend_schema(request=None, responses={200: JobRunSerializer, 409: conflict("The job already runs or has finished.")})
@api_view(["POST"])
def job_cancel(request: Request, job_id: str) -> Response:
    """Revoke a pending or scheduled job; 409 when it already runs or has finished."""
    run = visible_job(request, job_id)
    if not queue.cancel(run):
        return Response(
            {"detail": f"Only a pending or scheduled job can be canceled; this one is {run.state}."},
            status=status.HTTP_409_CONFLICT,
        )
    run.refresh_from_db()
    return Response(JobRunSerializer(run).data)
