"""Small helpers shared by every layer. Nothing here imports other stackml packages."""
