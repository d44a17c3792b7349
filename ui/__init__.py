"""The app's glue beside the pages, one module per job: resources (checked checkpoints, models and data, cached and
shared read-only by every session), state (per session: each model's one threshold, and the shareable URL),
routing (how a page request reaches the entry script) and widgets (what the pages draw with)."""
