"""The seed recipe (feature spec 1 + the original MLP), rebuilt on today's corpus as a comparison row."""
