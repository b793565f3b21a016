"""recsys: a self-hosted, open-source recommendation workbench compatible with Amazon Personalize."""

__version__ = "0.1.0"
