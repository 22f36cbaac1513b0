"""The production ASGI entry point: the app built from the environment's settings."""

from lms.app import create_app
from lms.settings import Settings

app = create_app(Settings())
