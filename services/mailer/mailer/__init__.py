"""The mailer service: consumes mail requests from the bus, renders and sends them."""
