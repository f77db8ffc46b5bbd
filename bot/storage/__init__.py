"""Storage: Tortoise ORM models (`models`), database start-up and migrations (`db`)."""
