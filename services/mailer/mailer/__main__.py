"""`python -m mailer serve`: the mailer on its own (distributed wiring).

`python -m mailer parked` lists the mails parked in `mailer.mail.dead` (retries exhausted or
refused for good); `python -m mailer replay-parked [--limit N]` gives them back to the mailer,
e.g. once the SMTP relay is fixed. Mails are de-duplicated by envelope id, so a replay never
sends one that already went out.
"""

import sys

from common.bus.__main__ import main as bus_main
from common.bus.topology import MAILER
from common.service import main
from mailer.app import PORTS, create_app

PARKED_COMMANDS = {"parked": "parked", "replay-parked": "replay"}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in PARKED_COMMANDS:
        command = PARKED_COMMANDS[sys.argv[1]]
        sys.exit(bus_main([command, MAILER.name, *sys.argv[2:]], prog="python -m mailer"))
    main("mailer", create_app, default_port=8004, ports=PORTS)
