"""What a block of code sent to the database."""

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(captured) -> list[str]:
    """The statements of a CaptureQueriesContext that change rows."""
    return [q["sql"] for q in captured if q["sql"].lstrip().upper().startswith(WRITES)]
