"""Use cases: the only layer that orders side effects. Talks to adapters through `ports`."""
