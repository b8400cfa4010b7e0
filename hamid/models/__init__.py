"""Models: the sparse symbolic estimator and the neural baselines, behind one interface."""
