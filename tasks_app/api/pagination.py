"""The API's pagination: strict about what it is given, and a schema that says so."""

from django import forms
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=` (from 1; past the last page: 404) and `?page_size=` (1 to 200; anything else: 400)."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        try:
            return forms.IntegerField(min_value=1, max_value=self.max_page_size).clean(given)
        except forms.ValidationError as error:
            raise ValidationError({self.page_size_query_param: error.messages}) from error

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        limits = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(limits[parameter["name"]])
        return parameters
