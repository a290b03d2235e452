"""Evaluation of generated images: feature extractors, Frechet distance, memorisation checks."""
