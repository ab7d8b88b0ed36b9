"""The job service: queue backends, the task runner, the ticker (schedules, outbox, stuck
tasks) and the jobs themselves (``tasks/``).  Edges never import this package; they write
executions and events through ``moorage.domain`` and this package turns them into work."""
