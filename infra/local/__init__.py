"""The embedded local stack: moto + the resources of template.yaml + the app and functions in-process."""
