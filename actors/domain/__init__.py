"""The domain: what a job is and what happens to it, free of brokers, stores and HTTP.

==================  ==========================================================
module              what lives there
==================  ==========================================================
``jobs``            job states (``JobStatus``), the specs and records the job store keeps
``lifecycle``       the lifecycle rule: what transitions do to a job, and their net effect
``events``          lifecycle events in the canonical envelope, their deterministic ids
``attempts``        how many attempts a job gets and the backoff between them
``handlers``        ``@handler``: what a job of each type does, and its registry
``stats``           the live counters' shape and the rules that fill them
``dead_letters``    messages that broke a contract, kept with every reason
``clock``           wall-clock timestamps in the one format every contract uses
==================  ==========================================================
"""
