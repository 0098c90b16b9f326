"""Delivery: the outbox sender (claims, lookups, backoff), the per-adapter circuit breaker, receipt
ingestion and webhooks. ``gateway.service.dispatch.Dispatcher`` puts them together."""
