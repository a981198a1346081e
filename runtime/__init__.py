"""Runtime of goodregions: window scoring, selection and deblurring (never imports torch)."""
