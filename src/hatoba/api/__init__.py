"""The Docker Engine API (v1.41 subset) served on a unix socket, and the async work behind it."""
