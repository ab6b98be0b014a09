"""Fuzzing every slash command through the emulator with generated options.

`generate` reads the commands from the bot's own tree and makes seeded payloads (valid, edge
and forged); `driver` sends them as students and instructors and checks every answer;
`test_fuzz` runs a small fixed sample in the default suite; `python -m tests.fuzz` is the
long run with a summary.
"""
