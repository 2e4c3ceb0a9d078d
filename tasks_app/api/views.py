"""The JSON API for tasks, notifications and the current user. Writes go through services."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import filters, mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import jobs, queue
from tasks_app.api.filters import NotificationFilter, TaskFilter, TaskOrderingFilter
from tasks_app.api.jobs import JobAccepted, accepted
from tasks_app.api.serializers import NotificationSerializer, TaskSerializer, UserSerializer
from tasks_app.models import Notification, Task
from tasks_app.services import emails, notifications, tasks


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


@contextmanager
def service_errors_as_400() -> Iterator[None]:
    """A service's Django ValidationError becomes DRF's: a 400 with field messages, not a 500."""
    try:
        yield
    except DjangoValidationError as error:
        raise ValidationError(serializers.as_serializer_error(error)) from error


class TaskViewSet(viewsets.ModelViewSet):
    """Tasks you own or created (staff: all). Other people's tasks are 404."""

    serializer_class = TaskSerializer
    pagination_class = Pagination
    filterset_class = TaskFilter
    filter_backends = [*viewsets.ModelViewSet.filter_backends, filters.SearchFilter, TaskOrderingFilter]
    search_fields = ["title"]
    ordering_fields = ["due_date", "created_at", "updated_at", "priority", "status", "title"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return Task.objects.none()
        return Task.objects.visible_to(self.request.user).select_related("owner")

    def perform_create(self, serializer: TaskSerializer) -> None:
        with service_errors_as_400():
            task = tasks.task_create(created_by=self.request.user, **serializer.validated_data)
        serializer.instance = task
        queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk, user=self.request.user)

    def perform_update(self, serializer: TaskSerializer) -> None:
        was_done = serializer.instance.status == Task.Status.DONE
        with service_errors_as_400():
            serializer.instance = tasks.task_update(serializer.instance, **serializer.validated_data)
        self._notify_if_completed(serializer.instance, was_done)

    def _notify_if_completed(self, task: Task, was_done: bool) -> None:
        if task.status == Task.Status.DONE and not was_done:
            queue.enqueue_on_commit(jobs.task_completed_notify, task.pk, user=self.request.user)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk=None) -> Response:
        task = self.get_object()
        was_done = task.status == Task.Status.DONE
        with service_errors_as_400():
            tasks.task_complete(task)
        self._notify_if_completed(task, was_done)
        return Response(self.get_serializer(task).data)

    @extend_schema(request=None, responses={202: JobAccepted})
    @action(detail=True, methods=["post"])
    def email(self, request: Request, pk=None) -> Response:
        """Email this task to yourself; the email is sent by a background job."""
        try:
            email = emails.email_create_task(self.get_object(), request.user)
        except ValueError as error:
            raise ValidationError({"detail": str(error)}) from error
        job_id = queue.enqueue_on_commit(jobs.email_send, email.pk, user=request.user)
        return accepted(job_id)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your notifications, newest first. `?unread=true` for the unread ones."""

    serializer_class = NotificationSerializer
    pagination_class = Pagination
    filterset_class = NotificationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        return Notification.objects.filter(user=self.request.user)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk=None) -> Response:
        notification = self.get_object()
        notifications.mark_read(request.user, [notification.pk])
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=inline_serializer("Marked", {"marked": serializers.IntegerField()}))
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        return Response({"marked": notifications.mark_read(request.user)}, status=status.HTTP_200_OK)


@extend_schema(responses=UserSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    return Response(UserSerializer(request.user).data)


class BroadcastSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=500, allow_blank=False, trim_whitespace=True)


@extend_schema(request=BroadcastSerializer, responses={202: JobAccepted})
@api_view(["POST"])
@permission_classes([IsAdminUser])
def broadcast(request: Request) -> Response:
    """Staff: send an announcement to every active user, as a fan-out of one job per user."""
    serializer = BroadcastSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    job_id = queue.enqueue_on_commit(jobs.broadcast_send, serializer.validated_data["message"], user=request.user)
    return accepted(job_id)
