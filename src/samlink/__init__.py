"""samlink: live local libraries in AWS SAM Python functions."""

__version__ = "0.1.0"
