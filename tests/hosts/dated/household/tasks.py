"""The household's own django-q2 work: a nightly sweep of done chores."""

from chores.models import Chore
from household.models import Sweep


def sweep() -> int:
    """Delete the chores that are done, and record how many."""
    removed = Chore.objects.filter(done=True).delete()[1].get("chores.Chore", 0)
    Sweep.objects.create(removed=removed)
    return removed
