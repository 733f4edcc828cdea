"""`python -m mailer serve`: the mailer on its own (distributed wiring)."""

from common.service import main
from mailer.app import create_app

if __name__ == "__main__":
    main("mailer", create_app, default_port=8004)
