"""Training side of goodregions (needs the train extra for torch)."""
