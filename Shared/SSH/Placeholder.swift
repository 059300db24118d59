// Placeholder until the SSH module lands.
