"""lifecycle: put every CRM contact into the right lifecycle stage, and show what changed."""

__version__ = "0.1.0"
