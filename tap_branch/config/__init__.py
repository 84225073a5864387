"""Settings, apps, catalog and state checks, the connection test: what is checked before a request."""
