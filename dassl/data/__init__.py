"""Data: datasets, transforms, samplers, the dataset wrapper and the DataManager that builds the loaders."""
