"""AI-ethics case studies: content files, posting and answer logic, export.

Knows neither Discord nor torch; the bot's case extension adapts it to Discord.
"""
