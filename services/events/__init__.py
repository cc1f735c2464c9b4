"""The events backbone: envelope, transactional outbox relay, Redis Streams consumers.

Producers write :func:`services.events.envelope.new_event` payloads into their
outbox table in the same transaction as the change; :mod:`services.events.relay`
publishes outbox rows to one Redis stream per domain; :mod:`services.events.consumer`
runs consumer groups with dedupe, bounded retries and a dead-letter stream.
"""
