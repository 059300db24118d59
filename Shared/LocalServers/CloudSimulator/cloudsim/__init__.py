"""cloudsim: a stateful DigitalOcean v2 + Hetzner Cloud v1 simulator, validated against their OpenAPI documents."""
