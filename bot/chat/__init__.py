"""Platform-neutral messages and commands, and one adapter per chat platform."""
