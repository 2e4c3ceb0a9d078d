"""The web UI for people: tasks, notifications, sign-up and password reset (views.py), reports,
imports and exports (files.py), their forms (forms.py) and URLs (urls.py, urls_files.py)."""
