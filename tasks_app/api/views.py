"""The JSON API for tasks, notifications and the current user. Writes go through services."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import permissions, workflows
from tasks_app.api.errors import service_errors_as_400
from tasks_app.api.filters import NotificationFilter, TaskFilter, TaskOrderingFilter, TaskSearchFilter
from tasks_app.api.jobs import accepted, already_started
from tasks_app.api.pagination import Pagination
from tasks_app.api.schema import BAD_INPUT
from tasks_app.api.serializers import (
    BroadcastSerializer,
    JobAccepted,
    JobAlready,
    NotificationSerializer,
    TaskSerializer,
    UserSerializer,
)
from tasks_app.models import Notification, Task
from tasks_app.services import notifications, tasks, user_stats
from tasks_app.shortcuts import own_or_permitted


class FiltersWhenAsked:
    """Run the filter backends only when the request has a parameter besides the page's: with
    none they change nothing, and django-filter still builds and checks its whole form (about
    1 ms a request, a single task's included)."""

    def filter_queryset(self, queryset):
        paging = {self.paginator.page_query_param, self.paginator.page_size_query_param}
        if set(self.request.query_params) <= paging:
            return queryset
        return super().filter_queryset(queryset)


class TaskViewSet(FiltersWhenAsked, viewsets.ModelViewSet):
    """Tasks you own or created (with `change_task`: all). Other people's tasks are 404."""

    serializer_class = TaskSerializer
    pagination_class = Pagination
    filterset_class = TaskFilter
    filter_backends = [*viewsets.ModelViewSet.filter_backends, TaskSearchFilter, TaskOrderingFilter]
    search_fields = ["title"]
    ordering_fields = ["due_date", "created_at", "updated_at", "priority", "status", "title"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return Task.objects.none()
        return Task.objects.visible_to(self.request.user).select_related("owner")

    def perform_create(self, serializer: TaskSerializer) -> None:
        with service_errors_as_400():
            serializer.instance = workflows.task_create(created_by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: TaskSerializer) -> None:
        with service_errors_as_400():
            workflows.task_update(serializer.instance, by=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance: Task) -> None:
        own_or_permitted(self.request.user, instance, permissions.DELETE_OTHERS_TASKS)
        tasks.task_delete(instance)

    @extend_schema(request=None, responses={200: TaskSerializer, 400: BAD_INPUT})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk=None, format=None) -> Response:
        task = self.get_object()
        with service_errors_as_400():
            workflows.task_complete(task, by=request.user)
        return Response(self.get_serializer(task).data)

    @extend_schema(request=None, responses={202: JobAccepted, 200: JobAlready, 400: BAD_INPUT})
    @action(detail=True, methods=["post"])
    def email(self, request: Request, pk=None, format=None) -> Response:
        """Email this task to yourself; the email is sent by a background job (202). Asked again
        within a minute: no second email, the first one's job (200)."""
        try:
            email, job_id = workflows.task_email(
                self.get_object(), request.user, base_url=request.build_absolute_uri("/")
            )
        except ValueError as error:
            raise ValidationError({"detail": str(error)}) from error
        if email is None:
            return already_started(job_id, "Already on its way: you asked for this task less than a minute ago.")
        return accepted(job_id)


class NotificationViewSet(FiltersWhenAsked, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
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
    def read(self, request: Request, pk=None, format=None) -> Response:
        notification = self.get_object()
        notifications.mark_read(request.user, [notification.pk])
        notification.refresh_from_db()
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses=inline_serializer("Marked", {"marked": serializers.IntegerField()}))
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request, format=None) -> Response:
        return Response({"marked": notifications.mark_read(request.user)}, status=status.HTTP_200_OK)


@csrf_exempt  # as the API's own views: no CSRF page, no redirect to the login page
@login_not_required
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other URL under /api/: a JSON 404 like the API's own, not the site's HTML page."""
    return JsonResponse({"detail": "Not found."}, status=404)


@extend_schema(responses=UserSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    # Recounted first when counted on an earlier day (or never); the row read is the one shown,
    # kept on the user so that the serializer does not read it again.
    request.user.task_stats = user_stats.user_stats_for(request.user)
    return Response(UserSerializer(request.user).data)


@extend_schema(request=BroadcastSerializer, responses={202: JobAccepted})
@api_view(["POST"])
@permission_classes([IsAdminUser])
def broadcast(request: Request) -> Response:
    """Staff: send an announcement to every active user, as a fan-out of one job per user."""
    serializer = BroadcastSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    with service_errors_as_400():
        job_id = workflows.broadcast_start(serializer.validated_data["message"], by=request.user)
    return accepted(job_id)
