"""The domain: connecting a line, sending through it, and the user's chats. No Telegram or HTTP types."""
