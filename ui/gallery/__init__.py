"""The Templates screen and lesson pages (a read-only design with its text)."""
