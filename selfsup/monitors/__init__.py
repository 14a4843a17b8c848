"""Label-free monitors: collapse signals of a training step (``collapse``), quality of an embedding (``quality``)."""
