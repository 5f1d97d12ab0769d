"""accessws: the WebSocket gateway — queries, subscriptions and pushes for browsers and apps (spec/websocket-api.md)."""
