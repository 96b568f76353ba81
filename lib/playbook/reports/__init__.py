"""Reports: each day's metrics.json as it is measured, the outputs/ layout, and the pages people read."""
