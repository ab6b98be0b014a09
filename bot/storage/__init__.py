"""The bot's storage layer: one SQLite database and one small store per feature."""

from bot.storage.database import Database, MigrationError, backup_file, default_backup_path

__all__ = ["Database", "MigrationError", "backup_file", "default_backup_path"]
