"""Training pipeline for the sampleChop chop-point model."""
