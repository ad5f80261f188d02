"""The outside project's own workflows: a top-level `workflows` package, as many projects have."""
