"""Writes and reads, one module per topic. Workflows, views, the API and jobs call these; services
never import jobs (enqueueing is a workflow's or a job's decision)."""
