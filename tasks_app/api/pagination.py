"""The API's pagination: strict about what it is given, and a schema that says so."""

from django import forms
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=` (a whole number from 1; past the last page: 404) and `?page_size=` (1 to 200); anything
    else given for either is a 400, not ignored."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator) -> int:
        return self.whole_number(request, self.page_query_param, default=1)

    def get_page_size(self, request) -> int:
        return self.whole_number(request, self.page_size_query_param, default=self.page_size, most=self.max_page_size)

    def whole_number(self, request, name: str, *, default: int, most: int | None = None) -> int:
        given = request.query_params.get(name)
        if given is None:
            return default
        try:
            return forms.IntegerField(min_value=1, max_value=most).clean(given)
        except forms.ValidationError as error:
            raise ValidationError({name: error.messages}) from error

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        limits = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(limits[parameter["name"]])
        return parameters
