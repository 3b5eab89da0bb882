"""Rules engine: declarative TOML rule sets compiled to one polars plan, and the bundled rule sets."""
