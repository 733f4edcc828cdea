"""`make stack`: the distributed wiring on one machine, without containers.

A composition root like `allinone`, but every service runs as its own process
(`python -m <service> serve`) against real PostgreSQL, RabbitMQ, Redis and an S3 server. The
integration tests start their stacks through this package too (tests/integration/conftest.py),
so what an operator runs is what the tests prove.

- `stack.processes`: one service process (start, readiness, stop, logs);
- `stack.backing`: the backing servers, and what the stack makes on them (databases, vhost,
  bucket, key prefix, keys), removed again for a throw-away run;
- `stack.wiring`: the processes of the platform and each one's environment;
- `stack.edge`: nginx in front of the gateways (deploy/edge), its config rendered from the
  template the images use;
- `stack.__main__`: the command (`python -m stack`), its banner and its signals.
"""
