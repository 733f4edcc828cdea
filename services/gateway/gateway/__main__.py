from common.service import main
from gateway.app import create_app

if __name__ == "__main__":
    main("gateway", create_app)
