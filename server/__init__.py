"""kalend's HTTP side: Radicale's application extended, the server, the CLI."""
