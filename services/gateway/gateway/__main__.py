from common.service import main
from gateway.app import PORTS, create_app

if __name__ == "__main__":
    main("gateway", create_app, ports=PORTS)
