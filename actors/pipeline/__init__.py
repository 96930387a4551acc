"""Plumbing the services share between the broker and their own actors.

A delivery enters through :mod:`~actors.pipeline.ingress` (batches off one queue), is
decoded and checked in :mod:`~actors.pipeline.admission` (valid envelopes, or a dead
letter), and is acknowledged by :mod:`~actors.pipeline.settlement` once every piece of
work carved out of it is done. :mod:`~actors.pipeline.publisher` publishes with
confirms; :mod:`~actors.pipeline.outage` retries idempotent work while a server is away;
:mod:`~actors.pipeline.sampler` samples queue depths into a gauge.
"""
