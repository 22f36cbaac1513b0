"""Enrolment in course runs, waitlists, progress tracking and completion."""
