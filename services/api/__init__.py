"""The HTTP API: accepts uploads, queues them for the model workers, returns their answers."""
