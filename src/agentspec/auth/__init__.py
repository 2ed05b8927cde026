"""Authentication and rate limiting: API keys with scopes, token buckets."""
