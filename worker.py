"""`python worker.py [--dev] [...]` from a checkout: the same command as the installed
`durable-responses-worker` (the code is `durable_responses/worker.py`)."""

from durable_responses.worker import main

if __name__ == "__main__":
    main()
