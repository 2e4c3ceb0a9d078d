"""What a user may do beyond their own rows (docs/security.md). Superusers hold every permission.

The first three are this app's own, declared on `Report.Meta` and `JobRun.Meta`.
"""

VIEW_OTHERS_FILES = "tasks_app.view_others_files"  # others' reports, imports, exports, downloads included
VIEW_ALL_JOBS = "tasks_app.view_all_jobs"  # every background job, not only those one started
MANAGE_JOBS = "tasks_app.manage_jobs"  # retry, discard, cancel, pause and resume anyone's jobs

# Other people's tasks follow the Task model's own permissions, as in the admin. The web UI's task
# page is its edit form, so seeing someone else's task there takes the right to change it.
CHANGE_OTHERS_TASKS = "tasks_app.change_task"
DELETE_OTHERS_TASKS = "tasks_app.delete_task"
