"""Serving: engine adapters (one per engine), the launcher and everything that talks to a server about itself."""
