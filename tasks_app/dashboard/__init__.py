"""The operations dashboard (staff only): queue, running jobs, failures, schedule, consumers."""
