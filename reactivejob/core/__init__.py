"""Pure decisions: from a ReactiveJob, its Jobs and what it reads, to a Plan. No I/O, no clock,
no asyncio, no clients (ruff's TID251 keeps it so); mutation-tested against tests/unit."""
