from common.migrations import run_env
from common.outbox import OutboxBase
from identity.models import Base

run_env(Base.metadata, OutboxBase.metadata)
