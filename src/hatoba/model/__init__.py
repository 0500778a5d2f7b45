"""The vocabulary: frozen values that every layer shares. No I/O here."""
