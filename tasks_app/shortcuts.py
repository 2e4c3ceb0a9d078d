"""What the web UI and the API share about a person's rows: who may see one or act on it, and its download."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from django.shortcuts import get_object_or_404


def visible_or_404(model, user, pk: int):
    """The row if `user` may see it (`visible_to`: their own, or everyone's with a permission); 404 otherwise."""
    return get_object_or_404(model.objects.visible_to(user), pk=pk)


def own_or_permitted(user, row, permission: str) -> None:
    """PermissionDenied (403) unless `row` is the user's own (its owner, or a task's creator) or they hold `permission`.

    For acting on a row the user may already see: cancelling someone's report, deleting someone's task.
    """
    if user.pk not in (row.owner_id, getattr(row, "created_by_id", None)) and not user.has_perm(permission):
        raise PermissionDenied("Only its owner, or someone with the permission, may do this.")


def file_response(row) -> FileResponse | None:
    """The finished file of a report or export as an attachment; None while it is not ready."""
    if row.status != row.Status.SUCCEEDED or not row.file:
        return None
    return FileResponse(row.file.open("rb"), as_attachment=True, filename=row.file.name.rsplit("/", 1)[-1])
