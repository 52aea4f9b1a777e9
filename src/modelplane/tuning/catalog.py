"""Finding studies: one in full, or a summary of each.

Apart from the search itself, so listing and showing studies never imports the trainer (torch, sklearn).
"""

from __future__ import annotations

from modelplane.store import Store
from modelplane.tuning.storage import load_study, open_storage, storage_url, study_names
from modelplane.tuning.summaries import study_view
from modelplane.tuning.views import StudyInfo


def get_study(store: Store, name: str) -> StudyInfo:
    return study_view(load_study(open_storage(storage_url(store)), name), detail=True)


def list_studies(store: Store) -> list[StudyInfo]:
    storage = open_storage(storage_url(store))
    return [study_view(load_study(storage, name), detail=False) for name in study_names(storage)]
