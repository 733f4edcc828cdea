from common.service import main
from identity.app import MIGRATIONS, PORTS, create_app

main("identity", create_app, migrations=MIGRATIONS, default_port=8001, ports=PORTS)
