"""Model workers: classifiers, runtimes, the batching loop that serves the Redis queue."""
