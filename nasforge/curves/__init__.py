"""Learning curves: extrapolating a trial's validation curve to its final epoch
(`predict`, over the parametric families of `models`) and the early-stopping rule built on
it (`rule.StopRule`, with the search's front kept by `incumbents.Incumbents`). Torch-free."""
