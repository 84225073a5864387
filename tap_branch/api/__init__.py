"""Branch's HTTP APIs: the stream base with its one request sender, auth, rate limits, async jobs."""
