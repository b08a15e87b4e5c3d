"""The relative's chat: what each tap, command or message leads to, and its screens.

Above content (the guide's screens) and services (cases, statistics), below the doors
(Telegram, the emulator): the conversation presenter, the rules of "talk to someone",
its screens and their check.
"""
