"""Small real servers the tests (and bench/) start on 127.0.0.1, so real clients speak real HTTP."""
