"""Contract tests: template.yaml, app.py, the functions, the code and events/ agree with one another."""
