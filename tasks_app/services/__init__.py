"""Writes and workflows, one module per topic. Views, the API and jobs call these; services never
import jobs (enqueueing is the caller's decision)."""
