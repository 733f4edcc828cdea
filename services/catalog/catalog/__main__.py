from catalog.app import MIGRATIONS, PORTS, create_app
from common.service import main

main("catalog", create_app, migrations=MIGRATIONS, default_port=8002, ports=PORTS)
