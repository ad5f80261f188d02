"""`python demo.py` from a checkout: the same tour as the installed `durable-responses-demo`
(the code is `durable_responses/demo.py`)."""

from durable_responses.demo import main

if __name__ == "__main__":
    main()
