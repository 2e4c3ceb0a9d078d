import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Case, IntegerField, Q, When
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

from tasks_app.models import Notification, Task
from tasks_app.search import SEARCH_MAX_LENGTH, validate_search


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """A true/false filter that rejects anything else with a 400 (django-filter's ignores it)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true", **kwargs)


BIGGEST_ID = 2**63 - 1  # SQLite's largest integer: past it a query cannot even be sent


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGGEST_ID})
class IdFilter(django_filters.NumberFilter):
    """A row's id: a whole number from 1 to BIGGEST_ID, or a 400."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs) -> None:
        super().__init__(min_value=1, max_value=BIGGEST_ID, **kwargs)


class StrictFilterSet(django_filters.FilterSet):
    """A filter given without a value (`?due_before=`) is a 400, not ignored as an empty form field is."""

    def get_form_class(self):
        class StrictForm(super().get_form_class()):
            def clean(self) -> dict:
                for name in self.fields:
                    if self.data.get(name) == "":
                        self.add_error(name, "Give a value, or leave the parameter out.")
                return super().clean()

        return StrictForm


class TaskFilter(StrictFilterSet):
    """?status=todo&priority=high&overdue=true&mine=true&due_before=2026-01-31&due_after=..."""

    overdue = StrictBooleanFilter(method="filter_overdue")
    mine = StrictBooleanFilter(method="filter_mine")
    # An id, not a pick from the user list: an unknown one matches no task (and lists no one).
    owner = IdFilter(field_name="owner_id")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")

    class Meta:
        model = Task
        fields = ["status", "priority"]

    def filter_overdue(self, queryset, name, value):
        overdue = Q(due_date__lt=timezone.localdate()) & ~Q(status=Task.Status.DONE)
        return queryset.filter(overdue) if value else queryset.exclude(overdue)

    def filter_mine(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value else queryset


class TaskSearchFilter(SearchFilter):
    """DRF's `?search=`, held to the web list's rule for its `?q=` (tasks_app/search.py): past it, a 400
    with the reason (1,500 words were a 500: a query too deep for SQLite)."""

    def get_search_terms(self, request) -> list[str]:
        try:
            validate_search(request.query_params.get(self.search_param, ""))
        except DjangoValidationError as error:
            raise ValidationError({self.search_param: error.messages}) from error
        return super().get_search_terms(request)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["maxLength"] = SEARCH_MAX_LENGTH
        return parameters


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


class NotificationFilter(StrictFilterSet):
    unread = StrictBooleanFilter(field_name="read_at", lookup_expr="isnull")

    class Meta:
        model = Notification
        fields = ["kind"]
