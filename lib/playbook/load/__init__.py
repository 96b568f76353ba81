"""Load: requests (datasets), sending them (client, load generator, sweeps) and what the timings say (metrics)."""
