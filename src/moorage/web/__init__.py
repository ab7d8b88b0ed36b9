"""Plain-ASGI plumbing shared by the edges: requests, responses, routing."""
