from catalog.app import MIGRATIONS, create_app
from common.service import main

main("catalog", create_app, migrations=MIGRATIONS, default_port=8002)
