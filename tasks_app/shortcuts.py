"""What the web UI and the API share about a person's rows: who may see one, and its download."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404


def visible_or_404(model, user, pk: int):
    """The row if `user` may see it (`visible_to`: its owner, or staff); 404 otherwise."""
    return get_object_or_404(model.objects.visible_to(user), pk=pk)


def file_response(row) -> FileResponse | None:
    """The finished file of a report or export as an attachment; None while it is not ready."""
    if row.status != row.Status.SUCCEEDED or not row.file:
        return None
    return FileResponse(row.file.open("rb"), as_attachment=True, filename=row.file.name.rsplit("/", 1)[-1])
