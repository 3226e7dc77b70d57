"""The job core: models, store, queue, runner and the service every dialect talks to."""
