"""The stack under test: an image-classifier HTTP API, a Redis Streams queue, model workers."""
