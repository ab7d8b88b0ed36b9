"""Portal route modules; ``portal/app.py`` includes them in a fixed order."""
