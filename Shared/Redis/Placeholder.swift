// Placeholder until the Redis module lands.
