from catalog.models import Base
from common.migrations import run_env
from common.outbox import OutboxBase

run_env(Base.metadata, OutboxBase.metadata)
