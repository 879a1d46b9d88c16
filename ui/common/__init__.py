"""What every screen shares: the session's design state, the page's fragments, styles, and the view into blocks."""
