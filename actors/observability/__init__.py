"""What every process tells its operators: structured log lines stamped with correlation
ids (:mod:`~actors.observability.logs`) and Prometheus metrics, one registry per process
(:mod:`~actors.observability.prometheus`)."""
