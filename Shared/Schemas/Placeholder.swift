// Placeholder until the Schemas module lands.
