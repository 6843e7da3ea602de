"""End-to-end tests: real ``sightlog`` processes (server and CLI) driven over HTTP and the command line."""
