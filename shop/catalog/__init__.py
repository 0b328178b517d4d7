"""Catalogue: producers and their aid certificates, categories, products, variants (SKUs), locations."""
