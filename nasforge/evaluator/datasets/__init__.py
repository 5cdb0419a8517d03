"""Dataset loaders behind `nasforge.evaluator.data`: built-in datasets, user files, splitting."""
