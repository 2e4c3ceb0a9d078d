import django_filters
from django.db.models import Case, IntegerField, Q, When
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter

from tasks_app.models import Notification, Task


def strict_boolean(**kwargs) -> django_filters.Filter:
    """A true/false filter that rejects anything else with a 400 (django-filter's ignores it)."""
    return django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", **kwargs
    )


class TaskFilter(django_filters.FilterSet):
    """?status=todo&priority=high&overdue=true&mine=true&due_before=2026-01-31&due_after=..."""

    overdue = strict_boolean(method="filter_overdue")
    mine = strict_boolean(method="filter_mine")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")

    class Meta:
        model = Task
        fields = ["status", "priority", "owner"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_overdue(self, queryset, name, value):
        overdue = Q(due_date__lt=timezone.localdate()) & ~Q(status=Task.Status.DONE)
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value else queryset


PRIORITY_RANK = Case(
    *[When(priority=value, then=rank) for rank, value in enumerate(Task.Priority.values)],
    output_field=IntegerField(),
)


class TaskOrderingFilter(OrderingFilter):
    """`?ordering=priority` sorts low < normal < high, not alphabetically; ties break on id (newest
    first) so that pages stay stable."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering:
            return ordering
        by_rank = {"priority": PRIORITY_RANK.asc(), "-priority": PRIORITY_RANK.desc()}
        return [by_rank.get(term, term) for term in ordering] + ["-id"]


class NotificationFilter(django_filters.FilterSet):
    unread = strict_boolean(field_name="read_at", lookup_expr="isnull")

    class Meta:
        model = Notification
        fields = ["kind"]
