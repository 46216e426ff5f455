"""One thin module per CLI command. Each imports the library only inside its function."""
