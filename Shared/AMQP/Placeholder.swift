// Placeholder until the AMQP module lands.
