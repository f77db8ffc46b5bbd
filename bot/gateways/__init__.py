"""WhatsApp gateway drivers behind one interface (`base.Gateway`); `registry` builds the enabled ones."""
