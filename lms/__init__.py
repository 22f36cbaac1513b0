"""Aula's application shell: settings, app factory, database, accounts and the CLI."""
