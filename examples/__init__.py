"""Examples of embedding durable-responses in your own workflows and workers."""
