// Placeholder until the JPEG decoder lands.
