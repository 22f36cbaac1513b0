"""The queues tasks are routed to; a worker can be started for some of them only."""

import enum


class Queue(enum.StrEnum):
    DEFAULT = "default"
    EMAIL = "email"
    MEDIA = "media"
    CERTIFICATES = "certificates"
    MAINTENANCE = "maintenance"
