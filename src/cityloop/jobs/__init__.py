"""The worker: periodic sweeps and outbox delivery."""
